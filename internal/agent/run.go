package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Run reads one Request (JSON) from in, runs its handler from Handlers(),
// and writes one Response (a single JSON line) to out. A handler's failure
// is reported in Response.Error; Run returns an error only when it could not
// read the request or write the response.
func Run(ctx context.Context, in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(bufio.NewReader(in))
	var req Request
	if err := dec.Decode(&req); err != nil {
		resp := Response{Kind: "error", Node: NodeName(), Error: fmt.Sprintf("read agent request: %v", err)}
		if werr := writeResponse(out, resp); werr != nil {
			return werr
		}
		return fmt.Errorf("read agent request: %w", err)
	}
	return writeResponse(out, Handle(ctx, Handlers(), req))
}

// Handle runs req with the handler for its kind from table.
func Handle(ctx context.Context, table map[string]Handler, req Request) Response {
	resp := Response{Kind: req.Kind, Node: NodeName()}
	h, ok := table[req.Kind]
	if !ok {
		resp.Error = fmt.Sprintf("unknown request kind %q (this agent knows %s)", req.Kind, strings.Join(Kinds(table), ", "))
		return resp
	}
	res, err := h(ctx, req.Spec)
	if err != nil {
		resp.Error = err.Error()
	}
	if res != nil {
		b, merr := json.Marshal(res)
		if merr != nil {
			resp.Error = strings.TrimPrefix(resp.Error+"; encode result: "+merr.Error(), "; ")
		} else {
			resp.Result = b
		}
	}
	return resp
}

func writeResponse(out io.Writer, resp Response) error {
	b, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encode agent response: %w", err)
	}
	b = append(b, '\n')
	if _, err := out.Write(b); err != nil {
		return fmt.Errorf("write agent response: %w", err)
	}
	return nil
}

// NodeName is the node the agent runs on: $NODE_NAME (set by the runner
// from the downward API), else the hostname.
func NodeName() string {
	if n := os.Getenv("NODE_NAME"); n != "" {
		return n
	}
	h, _ := os.Hostname()
	return h
}
