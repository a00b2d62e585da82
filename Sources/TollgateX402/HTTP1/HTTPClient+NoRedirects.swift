import AsyncHTTPClient

extension HTTPClient {
    /// A process-wide client that never follows redirects, for the peers the gateway does not reach through its own
    /// connections (`HTTP1ConnectionPool`): the chain RPC endpoints. A peer answering 3xx must not send a
    /// payment, or a request carrying the gateway's signature, to another host.
    /// It makes no tracing spans: the gateway bootstraps no tracer, and with the default (the process's no-op tracer)
    /// the client still built every request's span and its attributes (about 1 % of a paid request's CPU).
    public static let noRedirects: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.httpVersion = .http1Only
        configuration.tracing.tracer = nil
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()
}
