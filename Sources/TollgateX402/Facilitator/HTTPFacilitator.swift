import AsyncHTTPClient
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
    let client: HTTPClient
    /// Answers larger than this are refused rather than buffered.
    static let maxResponseBytes = 256 * 1024

    public init(baseURL: String, timeout: Duration, headers: EndpointHeaders = .init(), client: HTTPClient = .noRedirects) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.timeout = timeout
        self.headers = headers
        self.client = client
    }

    public var name: String { baseURL }

    public func supported(logger: Logger) async throws -> X402.SupportedResponse {
        try await call(.GET, "/supported", body: nil, headers: headers.supported, logger: logger) {
            try? JSONDecoder().decode(X402.SupportedResponse.self, from: Data($0))
        }
    }

    // The answers of every paid request are read in one strict pass (`StrictJSON.parse`): an answer with a repeated key
    // means two things to two parsers, and is undecodable here rather than read either way. So is one nested deeper than
    // 32 or not UTF-8, which Foundation read: such a /verify fails like a timeout, such a /settle is left to the
    // reconciler (the intent was recorded before the call).
    public func verify(_ request: X402.FacilitatorRequest, logger: Logger) async throws -> X402.VerifyResponse {
        try await call(.POST, "/verify", body: request.body, headers: headers.verify, logger: logger) {
            StrictJSON.tree($0).flatMap(X402.VerifyResponse.init(json:))
        }
    }

    public func settle(_ request: X402.FacilitatorRequest, logger: Logger) async throws -> X402.SettleResponse {
        try await call(.POST, "/settle", body: request.body, headers: headers.settle, logger: logger) {
            StrictJSON.tree($0).flatMap(X402.SettleResponse.init(json:))
        }
    }

    /// Errors that happen before a connection exists, so the request was certainly not sent. Everything
    /// else (a reset, a timeout, a closed connection) may come after the facilitator acted on it.
    static func neverConnected(_ error: any Error) -> Bool {
        switch error {
        case is NIOConnectionError: return true
        case let error as HTTPClientError:
            return error == .connectTimeout || error == .getConnectionFromPoolTimeout || error == .invalidURL || error == .emptyHost
        case let error as ChannelError:
            if case .connectTimeout = error { return true }
            return false
        case let error as IOError:
            return [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL].contains(error.errnoCode)
        default:
            return false
        }
    }

    private func call<Answer>(_ method: HTTPMethod, _ path: String, body: [UInt8]?, headers extra: [(String, String)], logger: Logger,
                              read: ([UInt8]) -> Answer?) async throws -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .nanoseconds(timeout.inNanoseconds), logger: logger)
            bytes = try await response.body.collect(upTo: Self.maxResponseBytes)
        } catch let error where Self.neverConnected(error) {
            throw RailFailure(.unreachable, "\(path): no connection (\(error))", authority: baseURL)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw RailFailure(.timeout, "\(path) did not answer within \(timeout)", authority: baseURL)
        } catch {
            throw RailFailure(.connectionLost, "\(path): \(error)", authority: baseURL)
        }
        guard response.status == .ok else {
            // Any non-200 (including redirects, which are not followed) is a transport failure, never a verdict.
            throw RailFailure(.badStatus, "\(path) answered \(response.status.code)", authority: baseURL)
        }
        guard let answer = read(Array(bytes.readableBytesView)) else {
            throw RailFailure(.undecodable, "\(path) answered something that is not an x402 response", authority: baseURL)
        }
        return answer
    }
}
