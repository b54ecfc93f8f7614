// Package api holds the OpenAPI 3.1 description of Parley's REST API
// (openapi.yaml), embedded so that tests anywhere can check real responses
// against it. The WebSocket protocol is described in docs/protocol.md.
package api

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

// Spec is openapi.yaml.
//
//go:embed openapi.yaml
var Spec []byte

// Load parses and validates Spec. Each call returns a fresh document.
func Load(ctx context.Context) (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(Spec)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validate openapi.yaml: %w", err)
	}
	return doc, nil
}
