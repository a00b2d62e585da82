import AsyncHTTPClient
import Testing
import TollgateX402

/// The client the gateway calls chain RPC endpoints with.
@Suite struct HTTPClientConfigurationTests {
    /// No tracing span is made per call: the gateway bootstraps no tracer, and the default one (the process's no-op
    /// tracer) still built each request's span and attributes.
    @Test func theSharedClientTracesNothing() {
        #expect(HTTPClient.noRedirects.tracer == nil)
    }
}
