package api

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPIDocument describes every route and the Go type of every body and answer:
// TestOpenAPIOperationsAreTheRoutes, TestOpenAPISchemasAreTheGoTypes and the check of every
// answer in the API tests keep it true, and `make lint` lints it (redocly.yaml).
//
//go:embed openapi.json
var openAPIDocument []byte

func (s *Server) openAPI(c *gin.Context, _ Principal) {
	c.Data(http.StatusOK, "application/json", openAPIDocument)
}
