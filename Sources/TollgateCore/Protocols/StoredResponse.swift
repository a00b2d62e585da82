import HTTPTypes
/// A delivered paid response, kept so that the same client retrying the same proof for the same
/// request (its response was lost) gets it again instead of paying twice.
public struct StoredResponse: Sendable, Hashable, Codable {
    public var correlationId: String
    public var clientId: String
    /// `METHOD /path?query` it answered.
    public var request: String
    public var status: Int
    /// Header fields as (name, value) pairs, receipt included.
    public var headers: [[String]]
    public var body: [UInt8]
    /// Unix seconds after which it is no longer served.
    public var expiresAt: Int64
    /// The `payment-identifier` the first delivery was paid under; a retry must name the same one (or none).
    public var paymentIdentifier: String?

    public init(correlationId: String, clientId: String, request: String, status: Int, headers: [[String]], body: [UInt8], expiresAt: Int64,
                paymentIdentifier: String? = nil) {
        self.paymentIdentifier = paymentIdentifier
        self.correlationId = correlationId
        self.clientId = clientId
        self.request = request
        self.status = status
        self.headers = headers
        self.body = body
        self.expiresAt = expiresAt
    }
}

extension StoredResponse {
    /// The kept answer as it is served again: its status, its headers (with the flow's `Tollgate-Correlation-Id`) and body.
    public var answer: UpstreamResponse {
        var fields = HTTPFields()
        for pair in headers where pair.count == 2 {
            if let name = HTTPField.Name(pair[0]) { fields.append(HTTPField(name: name, value: pair[1])) }
        }
        fields[.tollgateCorrelationId] = correlationId
        return UpstreamResponse(status: HTTPResponse.Status(code: status), headerFields: fields, body: body)
    }

    /// Whether its owner can fetch it again with the same proof: a caller recognised by its credentials or naming the
    /// payment (`Journey.isOwner`); an anonymous bare proof gets nothing again.
    public var isRetrievableByOwner: Bool {
        paymentIdentifier != nil || clientId != Identity.anonymous.clientId
    }

    /// `headers` as the stores keep them: a JSON array of `[name, value]` arrays.
    public var headersJSON: String {
        var writer = JSONWriter(capacity: 64 * headers.count + 2)
        writeHeaders(to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    func writeHeaders(to writer: inout JSONWriter) {
        writer.beginArray()
        for pair in headers {
            writer.beginArray()
            for text in pair { writer.value(.string(text)) }
            writer.endArray()
        }
        writer.endArray()
    }

    /// The answer prepared before settlement, with the rail's receipt of the settlement and a fresh expiry.
    func receipted(_ receiptFields: HTTPFields, expiresAt: Int64) -> StoredResponse {
        var stored = self
        stored.headers += receiptFields.map { [$0.name.rawName, $0.value] }
        stored.expiresAt = expiresAt
        return stored
    }
}
