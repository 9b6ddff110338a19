// pgx-probe: what Grafana's PostgreSQL data source does over pgx v5, against a DSN.
// Reads a JSON array of queries on stdin; connects (pgx's startup + Ping, as Grafana's health check),
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
	var queries []string
	if err := json.NewDecoder(os.Stdin).Decode(&queries); err != nil {
		fail(err)
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
		r := result{Query: q}
		rows, err := conn.Query(ctx, q)
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
