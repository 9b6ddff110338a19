// pgx-probe: what Grafana's PostgreSQL data source does over pgx v5, against a DSN.
// Reads a JSON array of queries on stdin (a string, or {"sql", "args"} for $n parameters); connects (pgx's startup + Ping, as Grafana's health check),
// runs each query in pgx's default extended-protocol mode (cached statements, binary results) and
// prints one JSON object per query: columns with type OIDs, rows as text, or the error's SQLSTATE.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

type column struct {
	Name string `json:"name"`
	OID  uint32 `json:"oid"`
}

type result struct {
	Query   string     `json:"query"`
	Columns []column   `json:"columns,omitempty"`
	Rows    [][]string `json:"rows,omitempty"`
	Code    string     `json:"code,omitempty"`
	Error   string     `json:"error,omitempty"`
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var raw []json.RawMessage
	if err := json.NewDecoder(os.Stdin).Decode(&raw); err != nil {
		fail(err)
	}
	type query struct {
		SQL  string        `json:"sql"`
		Args []json.Number `json:"args"`
		Strs []string      `json:"strs"`
	}
	queries := make([]query, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &queries[i].SQL); err != nil {
			if err := json.Unmarshal(r, &queries[i]); err != nil {
				fail(err)
			}
		}
	}
	conn, err := pgx.Connect(ctx, os.Args[1])
	if err != nil {
		fail(err)
	}
	defer conn.Close(ctx)
	if err := conn.Ping(ctx); err != nil {
		fail(err)
	}
	out := json.NewEncoder(os.Stdout)
	for _, q := range queries {
		r := result{Query: q.SQL}
		// Parameters: strings first, then numbers (int64 when whole), in $n order.
		var args []any
		for _, a := range q.Strs {
			args = append(args, a)
		}
		for _, a := range q.Args {
			if n, err := a.Int64(); err == nil {
				args = append(args, n)
			} else if f, err := a.Float64(); err == nil {
				args = append(args, f)
			}
		}
		rows, err := conn.Query(ctx, q.SQL, args...)
		if err == nil {
			for _, f := range rows.FieldDescriptions() {
				r.Columns = append(r.Columns, column{f.Name, f.DataTypeOID})
			}
			for rows.Next() {
				vals, verr := rows.Values()
				if verr != nil {
					err = verr
					break
				}
				row := make([]string, len(vals))
				for i, v := range vals {
					switch t := v.(type) {
					case nil:
						row[i] = "NULL"
					case float64:
						row[i] = strconv.FormatFloat(t, 'f', -1, 64)
					case time.Time:
						row[i] = t.UTC().Format(time.RFC3339Nano)
					default:
						row[i] = fmt.Sprint(t)
					}
				}
				r.Rows = append(r.Rows, row)
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
		if err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				r.Code = pe.Code
			}
			r.Error = err.Error()
		}
		if err := out.Encode(r); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}
