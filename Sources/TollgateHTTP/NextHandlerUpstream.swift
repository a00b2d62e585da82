import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import TollgateCore

/// The upstream of the Hummingbird door: the next handler of the middleware chain, called in process with the
/// request as the gateway forwards it (normalised path, client-sent proofs, credentials and `Tollgate-*` /
/// `X-Forwarded-*` fields removed, the contract fields set) and a context carrying the decided contract.
///
/// Its answer is collected whole, up to `maxResponseBytes`, because a paid answer is only released after
/// settlement. A handler that throws is an upstream that did not answer (never charged), unless the error is an
/// `HTTPResponseError`: that is the handler's answer, its status decides as a backend's would (`consumed`).
struct NextHandlerUpstream<Context: TollgateRequestContextProtocol>: Upstream {
    let original: Request
    let context: Context
    let clientAddress: String?
    let maxResponseBytes: Int
    let next: UncheckedNext<Context>

    func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        var head = original.head
        head.method = request.method
        head.path = request.target
        var fields = request.headerFields
        if !request.body.isEmpty { fields[.contentLength] = String(request.body.count) }
        head.headerFields = fields
        let forwarded = Request(head: head, body: RequestBody(buffer: ByteBuffer(bytes: request.body)))
        var context = self.context
        context.tollgate = request.contract.map { TollgatePaidRequest(contract: $0, clientAddress: clientAddress) }
        let response: Response
        do {
            response = try await next.call(forwarded, context)
        } catch let error as any HTTPResponseError {
            do {
                response = try error.response(from: forwarded, context: context)
            } catch {
                throw TollgateError(.upstreamUnavailable, "the handler failed: \(error)")
            }
        } catch {
            throw TollgateError(.upstreamUnavailable, "the handler failed: \(error)")
        }
        let collector = CollectedResponseBody(limit: maxResponseBytes)
        do {
            try await response.body.write(collector)
        } catch let error as ResponseTooLarge {
            throw TollgateError(.upstreamUnavailable, "\(error)")
        } catch {
            throw TollgateError(.upstreamUnavailable, "the handler's response body failed: \(error)")
        }
        return UpstreamResponse(status: response.status, headerFields: response.headers, body: collector.bytes)
    }
}

/// The middleware's `next`, made storable for the length of one `handle` call.
///
/// `next` is neither escaping nor `@Sendable`; `TollgateMiddleware` wraps it with `withoutActuallyEscaping` and the
/// gateway calls its upstream inline, in the task of that `handle` call, one call at a time and before the call
/// returns (the pipeline starts no tasks of its own), so no other task ever sees it.
struct UncheckedNext<Context>: @unchecked Sendable {
    let call: (Request, Context) async throws -> Response
}

/// Collects a response body, refusing it past `limit` bytes (`upstream.max_response_bytes`).
struct CollectedResponseBody: ResponseBodyWriter {
    /// `ResponseBody.write` consumes its writer, so the bytes live in a shared box the upstream reads afterwards.
    final class Bytes: Sendable {
        let buffer = Mutex(ByteBuffer())
    }

    let limit: Int
    let collected = Bytes()

    var bytes: [UInt8] {
        collected.buffer.withLock { Array($0.readableBytesView) }
    }

    func write(_ part: ByteBuffer) async throws {
        try collected.buffer.withLock { buffer in
            guard part.readableBytes <= limit - buffer.readableBytes else { throw ResponseTooLarge(limit: limit) }
            var part = part
            buffer.writeBuffer(&part)
        }
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

/// A handler's answer over `upstream.max_response_bytes`.
struct ResponseTooLarge: Error, CustomStringConvertible {
    let limit: Int
    var description: String { "the handler's response is larger than \(limit) bytes" }
}
