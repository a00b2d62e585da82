import AsyncHTTPClient

extension HTTPClient {
    /// A process-wide client that never follows redirects: a facilitator or upstream answering 3xx
    /// must not send a payment, or a request carrying the gateway's signature, to another host.
    public static let noRedirects: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.httpVersion = .http1Only
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()
}
