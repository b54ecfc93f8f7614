// Package acceptance holds Parley's end-to-end tests: real edges serving
// HTTP and WebSockets on loopback, real embedded JetStream, a real private
// PostgreSQL, and the Go client SDK as users drive it.
package acceptance
