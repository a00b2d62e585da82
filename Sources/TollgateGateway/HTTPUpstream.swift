import HTTPTypes
import NIOCore
import NIOHTTP1
import TollgateCore
import TollgateX402

/// The backend reached over HTTP/1.1 through the gateway's own keep-alive connections (`HTTP1ConnectionPool`, the
/// facilitator's client): a request's head, body and end go out in one write, redirects are never followed, and the
/// answer is read whole (up to a limit) because a paid response is only released after settlement.
public struct HTTPUpstream: Upstream {
    let connections: HTTP1ConnectionPool
    let timeout: TimeAmount
    let maxResponseBytes: Int

    /// - Parameters:
    ///   - baseURL: `http(s)://host[:port][/path]`; each request's target goes under its path.
    ///   - timeoutSeconds: per request, waiting for a connection and connecting included.
    ///   - maxConnections: connections open to the upstream at most; requests beyond wait for one, in order.
    public init(baseURL: String, timeoutSeconds: Double, maxResponseBytes: Int, maxConnections: Int = 64) {
        connections = HTTP1ConnectionPool(baseURL: baseURL, peer: "the upstream", maxConnections: maxConnections)
        timeout = .nanoseconds(Int64(timeoutSeconds * 1_000_000_000))
        self.maxResponseBytes = maxResponseBytes
    }

    public func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        var headers = HTTPHeaders()
        headers.reserveCapacity(request.headerFields.count + 2)
        for field in request.headerFields { headers.add(name: field.name.rawName, value: field.value) }
        let answer: HTTP1Answer
        do {
            answer = try await connections.call(method: HTTPMethod(rawValue: request.method.rawValue), path: request.target, headers: headers,
                                                body: Self.sendsBody(request) ? request.body : nil, deadline: .now() + timeout,
                                                maxResponseBytes: maxResponseBytes)
        } catch {
            throw TollgateError(.upstreamUnavailable, Self.detail(error, limit: maxResponseBytes))
        }
        var fields = HTTPFields()
        fields.reserveCapacity(answer.headers.count)
        for (name, value) in answer.headers {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        return UpstreamResponse(status: HTTPResponse.Status(code: Int(answer.status.code)), headerFields: fields,
                                body: Array(answer.body.readableBytesView))
    }

    /// Whether the request carries a body (and so a `Content-Length`): any it has, and an empty one for the methods
    /// whose requests are expected to have one, as a client library would send them.
    static func sendsBody(_ request: UpstreamRequest) -> Bool {
        !request.body.isEmpty || request.method == .post || request.method == .put || request.method == .patch
    }

    static func detail(_ failure: HTTP1ConnectionPool.Failure, limit: Int) -> String {
        switch failure {
        case .notConnected(let reason): "no connection to the upstream (\(reason))"
        case .noneFree(let reason): reason
        case .exchange(let error) where error.code == .answerTooLarge: "the upstream response is larger than \(limit) bytes"
        case .exchange(let error) where error.code == .timedOut: "the upstream did not answer in time"
        case .exchange(let error): error.detail
        }
    }
}
