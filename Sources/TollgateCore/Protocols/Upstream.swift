import HTTPTypes

/// The backend behind the gateway.
public protocol Upstream: Sendable {
    /// Sends a request and returns the whole response (bounded by the adapter's size limit).
    /// Throws `TollgateError` with `.upstreamUnavailable` when no response could be obtained.
    func send(_ request: UpstreamRequest) async throws -> UpstreamResponse
}

public struct UpstreamRequest: Sendable {
    public var method: HTTPRequest.Method
    /// Path and query, as received.
    public var target: String
    public var headerFields: HTTPFields
    public var body: [UInt8]
    /// What the gateway decided about this request (client, payer, amount, unit, correlation id), as signed into
    /// the contract fields; an in-process door hands it to its handler without parsing headers.
    public var contract: ContractSigner.Contract?

    public init(method: HTTPRequest.Method, target: String, headerFields: HTTPFields, body: [UInt8], contract: ContractSigner.Contract? = nil) {
        self.contract = contract
        self.method = method
        self.target = target
        self.headerFields = headerFields
        self.body = body
    }
}

public struct UpstreamResponse: Sendable {
    public var status: HTTPResponse.Status
    public var headerFields: HTTPFields
    public var body: [UInt8]
    /// False for an interim answer that is not the work paid for (an MCP tool asking its caller for input before it
    /// answers): never consumed, whatever the route's moment of consumption, so the payment stays unspent for the
    /// call that completes it.
    public var isFinal: Bool

    public init(status: HTTPResponse.Status, headerFields: HTTPFields, body: [UInt8], isFinal: Bool = true) {
        self.status = status
        self.headerFields = headerFields
        self.body = body
        self.isFinal = isFinal
    }
}
