import HTTPTypes
import NIOCore
import NIOHTTP1
import TollgateCore
import TollgateX402

/// The backend reached over HTTP/1.1 on the gateway's own keep-alive connections (`HTTP1ConnectionPool`, shared with
/// the facilitator client). Answers are read whole (up to a limit) because a paid answer is only released after
/// settlement; redirects are answers like any other, never followed.
public struct HTTPUpstream: Upstream {
    let timeout: TimeAmount
    let maxResponseBytes: Int
    let connections: HTTP1ConnectionPool

    /// - Parameter maxConnections: connections open to the upstream at most; requests beyond wait for one, within
    ///   their timeout.
    public init(baseURL: String, timeoutSeconds: Double, maxResponseBytes: Int, maxConnections: Int = 64) {
        self.timeout = .milliseconds(Int64(timeoutSeconds * 1000))
        self.maxResponseBytes = maxResponseBytes
        connections = HTTP1ConnectionPool(baseURL: baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL,
                                          maxConnections: maxConnections)
    }

    public func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        var headers = HTTPHeaders()
        headers.reserveCapacity(request.headerFields.count)
        for field in request.headerFields { headers.add(name: field.name.rawName, value: field.value) }
        // A method that carries a body says how long it is, even when it is empty (some servers answer 411 otherwise).
        let body: [UInt8]? = request.body.isEmpty && !Self.carriesBody(request.method) ? nil : request.body
        let answer: HTTP1Answer
        do {
            answer = try await connections.call(method: HTTPMethod(rawValue: request.method.rawValue), path: request.target,
                                                headers: headers, body: body, deadline: .now() + timeout,
                                                maxResponseBytes: maxResponseBytes)
        } catch .exchange(let error) where error.code == .answerTooLarge {
            throw TollgateError(.upstreamUnavailable, "the upstream response is larger than \(maxResponseBytes) bytes")
        } catch .exchange(let error) where error.code == .timedOut {
            throw TollgateError(.upstreamUnavailable, "the upstream did not answer within \(timeout)")
        } catch {
            throw TollgateError(.upstreamUnavailable, "\(error)")
        }
        var fields = HTTPFields()
        fields.reserveCapacity(answer.headers.count)
        for header in answer.headers {
            if let name = HTTPField.Name(header.name) { fields.append(HTTPField(name: name, value: header.value)) }
        }
        return UpstreamResponse(status: HTTPResponse.Status(code: Int(answer.status.code)), headerFields: fields,
                                body: Array(answer.body.readableBytesView))
    }

    static func carriesBody(_ method: HTTPRequest.Method) -> Bool {
        method == .post || method == .put || method == .patch
    }
}
