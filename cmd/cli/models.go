package cli

import (
	"github.com/custmart/custmart/warehouse/transform"
)

// goModels are the models computed in Go, by the name their .sql header declares.
func goModels() map[string]transform.GoModel {
	return map[string]transform.GoModel{}
}

// hooks prepare each transform connection (e.g. register scalar UDFs).
func hooks() []transform.Hook {
	return nil
}
