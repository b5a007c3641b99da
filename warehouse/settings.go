package warehouse

// SettingError is a setting that fails validation. Field is the setting's key
// as the configuration file spells it, relative to the settings validated
// ("csv.delimiter"; "" for the settings as a whole): the reader of the file
// puts it under its section and adds the line.
type SettingError struct {
	Field string
	Msg   string // what is wrong
	Hint  string // what to write instead
}

func (e *SettingError) Error() string {
	msg := e.Msg
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// InvalidSetting returns a *SettingError.
func InvalidSetting(field, msg, hint string) error {
	return &SettingError{Field: field, Msg: msg, Hint: hint}
}

// WithinSetting puts a *SettingError under the key prefix ("postgres" and
// "batch_size" make "postgres.batch_size"); other errors, and nil, are
// returned as they are.
func WithinSetting(prefix string, err error) error {
	se, ok := err.(*SettingError)
	if !ok {
		return err
	}
	field := prefix
	if se.Field != "" {
		field += "." + se.Field
	}
	return &SettingError{Field: field, Msg: se.Msg, Hint: se.Hint}
}
