package serve

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"reflect"
	"unsafe"

	bindings "github.com/duckdb/duckdb-go-bindings"
	"github.com/duckdb/duckdb-go/v2"
)

// Streaming results.
//
// duckdb-go (v2.10506 and v2.20000 alike) runs a query to its end and keeps
// the whole result before the first row can be read: Stmt.QueryContext
// executes with duckdb_pending_prepared, which materializes the result in
// memory that DuckDB's memory_limit does not cover. One client reading a
// large result slowly could so grow the server past any limit.
//
// The server instead executes client queries as DuckDB streaming results
// (duckdb_pending_prepared_streaming) and reads them a chunk (2048 rows) at
// a time with duckdb_fetch_chunk. DuckDB then produces rows only as they are
// fetched, keeping at most streaming_buffer_size of them ahead of the
// reader; the session fetches a chunk only after writing the previous rows
// to the client's socket, and a write blocks while the socket is full, so a
// slow client holds the engine back instead of filling the server's memory.
//
// duckdb-go has no API for this, so this file reaches two of its internals:
// the handles of a Stmt and a Conn (unexported fields, read by reflection
// with their types checked), and DataChunk.initFromDuckDataChunk, which
// readies a chunk for DataChunk.GetValue: the values are converted by the
// driver's own code, exactly as rows.Next converts them.
// TestStreamingDriverVersion pins the driver version this was checked
// against.

//go:linkname initDataChunk github.com/duckdb/duckdb-go/v2.(*DataChunk).initFromDuckDataChunk
func initDataChunk(chunk *duckdb.DataChunk, in bindings.DataChunk, writable bool) error

// streamedDriverVersion is the duckdb-go version whose internals this file
// was checked against.
const streamedDriverVersion = "v2.10506.0"

// driverField returns the unexported field name of *v, which must be of
// type T.
func driverField[T any](v any, name string) (T, error) {
	var zero T
	f := reflect.ValueOf(v).Elem().FieldByName(name)
	if !f.IsValid() || f.Type() != reflect.TypeFor[T]() {
		return zero, fmt.Errorf("duckdb-go %T has no field %s of type %v (driver internals changed; see stream.go)", v, name, reflect.TypeFor[T]())
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(T), nil
}

// streamRows reads a streaming result; it implements driver.Rows.
type streamRows struct {
	res    bindings.Result
	raw    bindings.DataChunk // the chunk being read, destroyed for the next
	chunk  duckdb.DataChunk
	size   int // rows in chunk
	next   int // the next row of chunk to read
	done   bool
	stop   func() bool // ends the interrupt on ctx's end
	closed bool
}

// queryStreaming executes stmt, which has no parameters, as a streaming
// result, and fetches its first chunk, so that most errors come before the
// first row as they do from Stmt.QueryContext. The end of ctx interrupts the
// query, whether it is executing or being fetched from.
func queryStreaming(ctx context.Context, stmt *duckdb.Stmt) (*streamRows, error) {
	conn, err := driverField[*duckdb.Conn](stmt, "conn")
	if err != nil {
		return nil, err
	}
	handle, err := driverField[bindings.Connection](conn, "conn")
	if err != nil {
		return nil, err
	}
	prepared, err := driverField[*bindings.PreparedStatement](stmt, "preparedStmt")
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var pending bindings.PendingResult
	if bindings.PendingPreparedStreaming(*prepared, &pending) == bindings.StateError {
		msg := bindings.PendingError(pending)
		bindings.DestroyPending(&pending)
		return nil, &duckdb.Error{Type: duckdb.ErrorTypeInvalid, Msg: msg}
	}
	defer bindings.DestroyPending(&pending)
	// Registered once the query has begun: DuckDB clears an earlier
	// interrupt when a query starts.
	r := &streamRows{stop: context.AfterFunc(ctx, func() { bindings.Interrupt(handle) })}
	if bindings.ExecutePending(pending, &r.res) == bindings.StateError {
		err := r.resultError()
		r.Close()
		return nil, errors.Join(ctx.Err(), err)
	}
	if err := r.fetch(); err != nil {
		r.Close()
		return nil, errors.Join(ctx.Err(), err)
	}
	return r, nil
}

// fetch reads the next chunk; at the end of the result it sets done.
func (r *streamRows) fetch() error {
	bindings.DestroyDataChunk(&r.raw)
	r.size, r.next = 0, 0
	r.raw = bindings.FetchChunk(r.res)
	if r.raw.Ptr == nil {
		r.done = true
		if bindings.ResultError(&r.res) != "" {
			return r.resultError()
		}
		return nil
	}
	if err := initDataChunk(&r.chunk, r.raw, false); err != nil {
		r.done = true
		return err
	}
	r.size = r.chunk.GetSize()
	return nil
}

func (r *streamRows) resultError() error {
	return &duckdb.Error{Type: duckdb.ErrorType(bindings.ResultErrorType(&r.res)), Msg: bindings.ResultError(&r.res)}
}

// Columns is unused: the session knows the columns from the statement.
func (r *streamRows) Columns() []string { return nil }

// Next reads the next row into dst, fetching the next chunk when the current
// one is read; io.EOF at the end of the result.
func (r *streamRows) Next(dst []driver.Value) error {
	for r.next == r.size {
		if r.done {
			return io.EOF
		}
		if err := r.fetch(); err != nil {
			return err
		}
	}
	for i := range dst {
		v, err := r.chunk.GetValue(i, r.next)
		if err != nil {
			return err
		}
		// As duckdb-go's rows.Next does.
		if bit, ok := v.(duckdb.Bit); ok {
			v = bit.String()
		}
		dst[i] = v
	}
	r.next++
	return nil
}

func (r *streamRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.stop()
	bindings.DestroyDataChunk(&r.raw)
	bindings.DestroyResult(&r.res)
	return nil
}
