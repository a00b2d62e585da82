import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import TollgateCore

/// A facilitator reached over the x402 HTTP facilitator API: `GET /supported`, `POST /verify`, `POST /settle`.
public struct HTTPFacilitator: Facilitator {
    /// Extra request headers per endpoint (hosted facilitators authenticate this way).
    public struct EndpointHeaders: Sendable {
        public var supported: [(String, String)]
        public var verify: [(String, String)]
        public var settle: [(String, String)]
        public init(supported: [(String, String)] = [], verify: [(String, String)] = [], settle: [(String, String)] = []) {
            self.supported = supported
            self.verify = verify
            self.settle = settle
        }
    }

    public let baseURL: String
    public let timeout: Duration
    public let headers: EndpointHeaders
    let connections: HTTP1ConnectionPool
    /// Each endpoint's request fields, written once: `Accept`, the configured ones, `Content-Type` for a body.
    let fields: (supported: HTTPHeaders, verify: HTTPHeaders, settle: HTTPHeaders)
    /// Answers larger than this are refused rather than buffered.
    static let maxResponseBytes = 256 * 1024

    /// - Parameters:
    ///   - timeout: per call, waiting for a connection and connecting included.
    ///   - maxConnections: connections open to the facilitator at most; calls beyond wait for one.
    public init(baseURL: String, timeout: Duration, headers: EndpointHeaders = .init(), maxConnections: Int = 64) {
        let trimmed = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.baseURL = trimmed
        self.timeout = timeout
        self.headers = headers
        connections = HTTP1ConnectionPool(baseURL: baseURL, maxConnections: maxConnections)
        // The name is also the authority settlement intents record; it stays the base URL unless that holds secrets.
        name = connections.origin.map { $0.carriesSecrets ? $0.shown : trimmed } ?? FacilitatorPool.metricLabel(trimmed)
        fields = (Self.fields(headers.supported, body: false), Self.fields(headers.verify, body: true),
                  Self.fields(headers.settle, body: true))
    }

    private static func fields(_ extra: [(String, String)], body: Bool) -> HTTPHeaders {
        var fields = HTTPHeaders([("Accept", "application/json")] + extra)
        if body { fields.add(name: "Content-Type", value: "application/json") }
        return fields
    }

    /// The facilitator as logs, metrics and the audit log show it: its URL without credentials or query.
    public let name: String

    public func supported(logger: Logger) async throws -> X402.SupportedResponse {
        try await call(.GET, "/supported", body: nil, fields: fields.supported, logger: logger) {
            try? JSONDecoder().decode(X402.SupportedResponse.self, from: Data($0))
        }
    }

    // The answers of every paid request are read in one strict pass (`StrictJSON.parse`): an answer with a repeated key
    // means two things to two parsers, and is undecodable here rather than read either way. So is one nested deeper than
    // 32 or not UTF-8, which Foundation read: such a /verify fails like a timeout, such a /settle is left to the
    // reconciler (the intent was recorded before the call).
    public func verify(_ request: X402.FacilitatorRequest, logger: Logger) async throws -> X402.VerifyResponse {
        try await call(.POST, "/verify", body: request.body, fields: fields.verify, logger: logger) {
            StrictJSON.tree($0).flatMap(X402.VerifyResponse.init(json:))
        }
    }

    public func settle(_ request: X402.FacilitatorRequest, logger: Logger) async throws -> X402.SettleResponse {
        try await call(.POST, "/settle", body: request.body, fields: fields.settle, logger: logger) {
            StrictJSON.tree($0).flatMap(X402.SettleResponse.init(json:))
        }
    }

    private func call<Answer>(_ method: HTTPMethod, _ path: String, body: [UInt8]?, fields: HTTPHeaders, logger: Logger,
                              read: ([UInt8]) -> Answer?) async throws -> Answer {
        let answer: HTTP1Answer
        do {
            answer = try await connections.call(method: method, path: path, headers: fields, body: body,
                                                deadline: .now() + .nanoseconds(timeout.inNanoseconds), maxResponseBytes: Self.maxResponseBytes)
        } catch .noneFree(let reason) {
            throw RailFailure(.notReady, "\(path): \(reason)", authority: name)
        } catch .notConnected(let reason) {
            throw RailFailure(.unreachable, "\(path): no connection (\(reason))", authority: name)
        } catch .exchange(let error) {
            switch error.code {
            case .notSent: throw RailFailure(.unreachable, "\(path): \(error)", authority: name)
            case .timedOut: throw RailFailure(.timeout, "\(path) did not answer within \(timeout)", authority: name)
            case .answerTooLarge: throw RailFailure(.undecodable, "\(path): \(error)", authority: name)
            case .closed, .failed: throw RailFailure(.connectionLost, "\(path): \(error)", authority: name)
            }
        }
        guard answer.status == .ok else {
            // Any non-200 (including redirects, which are not followed) is a transport failure, never a verdict.
            throw RailFailure(.badStatus, "\(path) answered \(answer.status.code)", authority: name)
        }
        guard let decoded = read(Array(answer.body.readableBytesView)) else {
            throw RailFailure(.undecodable, "\(path) answered something that is not an x402 response", authority: name)
        }
        return decoded
    }
}
