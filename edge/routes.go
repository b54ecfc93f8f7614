package edge

import (
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// routes builds the HTTP API of API.md.
func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit("1M"))
	e.Use(s.countRequests)

	e.GET("/healthz", s.healthz)
	e.GET("/metrics", s.metricsHandler)

	v1 := e.Group("/v1")
	v1.POST("/auth/register", s.register)
	v1.POST("/auth/login", s.login)
	v1.POST("/auth/refresh", s.refresh)
	v1.POST("/auth/logout", s.logout)
	v1.GET("/ws", s.serveWS) // authenticates itself: header or ticket

	a := v1.Group("", s.requireAuth)
	a.POST("/ws/ticket", s.wsTicket)
	a.GET("/me", s.me)
	a.GET("/users", s.searchUsers)

	a.POST("/conversations", s.createConversation)
	a.GET("/conversations", s.listConversations)
	a.GET("/conversations/:cid", s.getConversation)
	a.PATCH("/conversations/:cid", s.updateConversation)
	a.POST("/conversations/:cid/members", s.addMembers)
	a.DELETE("/conversations/:cid/members/:uid", s.removeMember)
	a.GET("/conversations/:cid/members", s.listMembers)
	a.POST("/conversations/:cid/messages", s.postMessage)
	a.GET("/conversations/:cid/messages", s.listMessages)
	a.PATCH("/conversations/:cid/messages/:mid", s.patchMessage)
	a.DELETE("/conversations/:cid/messages/:mid", s.deleteMessageHandler)
	a.GET("/conversations/:cid/messages/:mid/history", s.messageHistory)
	a.POST("/conversations/:cid/read", s.postRead)
	return e
}
