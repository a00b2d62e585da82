import HTTPTypes

/// A request as the pipeline sees it, independent of the HTTP server.
public struct GatewayRequest: Sendable {
    public var method: HTTPRequest.Method
    /// Path and query as received (`/datasets/prices?day=1`).
    public var target: String
    public var headerFields: HTTPFields
    public var body: [UInt8]
    /// The client's IP address, when known (the peer, or the hop a trusted proxy named).
    public var remoteAddress: String?
    /// The host the client asked for (HTTP/1.1 `Host`, HTTP/2 `:authority`), which HTTP servers hand over apart from
    /// the header fields; sent to the upstream as `X-Forwarded-Host`. Nil: the fields' `Host`, if any.
    public var authority: String?
    /// Reads the body when the pipeline needs it (after identity, authorization and admission); nil when `body`
    /// is already there. It throws when the body is larger than the adapter allows.
    public var bodyReader: (@Sendable () async throws -> [UInt8])?

    public init(method: HTTPRequest.Method, target: String, headerFields: HTTPFields, body: [UInt8] = [], remoteAddress: String? = nil,
                authority: String? = nil, bodyReader: (@Sendable () async throws -> [UInt8])? = nil) {
        self.method = method
        self.target = target
        self.headerFields = headerFields
        self.body = body
        self.remoteAddress = remoteAddress
        self.authority = authority
        self.bodyReader = bodyReader
    }

    mutating func loadBody() async throws {
        guard let reader = bodyReader else { return }
        bodyReader = nil
        body = try await reader()
    }

    /// `METHOD /path?query`: what an offer binds and a stored response answers.
    public var requestLine: String { "\(method.rawValue) \(target)" }

    public var path: Substring {
        // Searched as bytes: a search by `Character` breaks the whole target into grapheme clusters.
        target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? Substring(target)
    }
}

/// The pipeline's answer.
public struct GatewayResponse: Sendable {
    public var status: HTTPResponse.Status
    public var headerFields: HTTPFields
    public var body: [UInt8]
    /// Set on the delivery of an answer whose payment was settled: if the adapter cannot write it, it calls
    /// `Gateway.undelivered(_:detail:)` so the payment is not kept for nothing.
    public var settledDelivery: SettledDelivery?

    public init(status: HTTPResponse.Status, headerFields: HTTPFields = [:], body: [UInt8] = []) {
        self.status = status
        self.headerFields = headerFields
        self.body = body
    }
}

extension GatewayResponse {
    /// An upstream's answer (or a kept one) as it is served, unmarked.
    init(_ answer: UpstreamResponse) {
        self.init(status: answer.status, headerFields: answer.headerFields, body: answer.body)
    }
}

extension HTTPResponse.Status {
    /// 402, which HTTPTypes does not name.
    public static let paymentRequired = HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required")
}

extension HTTPField.Name {
    public static let tollgateCorrelationId = HTTPField.Name("Tollgate-Correlation-Id")!
    public static let tollgateClient = HTTPField.Name("Tollgate-Client")!
    public static let tollgatePayer = HTTPField.Name("Tollgate-Payer")!
    public static let tollgateAmount = HTTPField.Name("Tollgate-Amount")!
    public static let tollgateUnit = HTTPField.Name("Tollgate-Unit")!
    public static let tollgateSignature = HTTPField.Name("Tollgate-Signature")!
    public static let tollgateTimestamp = HTTPField.Name("Tollgate-Timestamp")!
}
