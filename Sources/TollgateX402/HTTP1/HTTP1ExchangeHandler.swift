import Foundation
import NIOCore
import NIOHTTP1
import NIOTLS

/// A peer's answer, read whole.
package struct HTTP1Answer: Sendable {
    package var status: HTTPResponseStatus
    package var headers: HTTPHeaders
    package var body: ByteBuffer
    /// Whether the connection may carry another request (the answer was complete, came after the whole request was
    /// written, and did not close it).
    var reusable: Bool
    /// How long the peer keeps an idle connection open, from its `Keep-Alive: timeout=N`.
    var keepAliveSeconds: Int?
}

/// Why an exchange ended without an answer. The request may have been sent in every case but `notSent`.
package struct HTTP1ExchangeError: Error, CustomStringConvertible {
    package enum Code: Sendable {
        /// The connection was closed before a byte of the request was written.
        case notSent
        case timedOut, closed, answerTooLarge, failed
    }
    package var code: Code
    package var detail: String
    package var description: String { detail }
}

/// One request and its answer on one connection, at most one at a time.
///
/// A connection is ready once TCP is connected, or over TLS once the handshake is done: no byte of a request is
/// written before, so a connection that never became ready certainly did not carry one (and the call may go to
/// another facilitator).
///
/// The request's head, body and end go out in one flush, so one `writev`: AsyncHTTPClient flushes a request's head
/// alone before its body, which costs a system call and, on the peer's side, a wake-up and a read per call.
/// Any failure (the deadline, a reset, an answer too large, bytes no request asked for) closes the connection, so an
/// answer that comes after its deadline is never read as the next request's; so does an answer that comes before its
/// request was written whole. (An answer sent twice, the second while the next request waits, would still pass for
/// that request's: HTTP/1.1 pairs answers with requests by order alone, so a peer that does so is lying.) Informational
/// answers (`100 Continue`) are dropped by NIO's decoder, which also knows that the answer to `HEAD` has no body.
final class HTTP1ExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private var context: ChannelHandlerContext?
    private var ready: EventLoopPromise<Void>?
    private let readyBy: NIODeadline
    private let waitsForHandshake: Bool
    private var promise: EventLoopPromise<HTTP1Answer>?
    private var timer: Scheduled<Void>?
    private var limit = 0
    private var status: HTTPResponseStatus?
    private var headers = HTTPHeaders()
    private let peer: String
    private var keepAlive = false
    private var keepAliveSeconds: Int?
    private var body = ByteBuffer()
    private var closed = false

    private var requestWritten = false
    /// Completed when the connection can carry a request, failed if it closes or the deadline passes first. Each
    /// connection has its own: when a name resolves to several addresses, the attempts that lose are closed.
    let readyFuture: EventLoopFuture<Void>

    /// - Parameters:
    ///   - readyBy: the deadline to be connected (and done with the TLS handshake) by.
    ///   - waitsForHandshake: whether a TLS handshake must be done first.
    ///   - peer: what the peer is called in failures ("the facilitator").
    init(on eventLoop: any EventLoop, readyBy: NIODeadline, waitsForHandshake: Bool, peer: String) {
        self.peer = peer
        let ready = eventLoop.makePromise(of: Void.self)
        self.ready = ready
        readyFuture = ready.futureResult
        self.readyBy = readyBy
        self.waitsForHandshake = waitsForHandshake
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: readyBy) { [self] in
            failReady(HTTP1ExchangeError(code: .timedOut, detail: "not connected before the deadline"))
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        let closed = HTTP1ExchangeError(code: .closed, detail: "the connection was closed")
        failReady(closed)
        finish(with: .failure(closed))
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if !waitsForHandshake { becomeReady() }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent { becomeReady() }
        context.fireUserInboundEventTriggered(event)
    }

    private func becomeReady() {
        guard let ready else { return }
        self.ready = nil
        timer?.cancel()
        timer = nil
        ready.succeed()
    }

    private func failReady(_ error: HTTP1ExchangeError) {
        guard let ready else { return }
        self.ready = nil
        timer?.cancel()
        timer = nil
        ready.fail(error)
        close()
    }

    /// Sends a request and completes `promise` with its answer or an error. Called on the channel's event loop.
    func start(head: HTTPRequestHead, body requestBody: ByteBuffer?, deadline: NIODeadline, maxResponseBytes: Int,
               promise: EventLoopPromise<HTTP1Answer>) {
        guard let context, !closed, ready == nil, self.promise == nil else {
            promise.fail(HTTP1ExchangeError(code: .notSent, detail: "the connection was closed before the request was sent"))
            return
        }
        self.promise = promise
        limit = maxResponseBytes
        status = nil
        headers = HTTPHeaders()
        keepAlive = false
        keepAliveSeconds = nil
        requestWritten = false
        body.clear()
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            fail(HTTP1ExchangeError(code: .timedOut, detail: "no answer before the deadline"))
        }
        // A head the encoder refuses (a byte not allowed in a field) fails the exchange and closes the connection at
        // once: nothing more is written after it.
        let headWritten = context.eventLoop.makePromise(of: Void.self)
        headWritten.futureResult.assumeIsolated().whenFailure { [self] error in
            fail(HTTP1ExchangeError(code: .failed, detail: "the request could not be written: \(error)"))
        }
        context.write(wrapOutboundOut(.head(head)), promise: headWritten)
        guard self.promise != nil, !closed else { return }
        if let requestBody { context.write(wrapOutboundOut(.body(.byteBuffer(requestBody))), promise: nil) }
        guard self.promise != nil, !closed else { return }
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenSuccess { [self] in requestWritten = true }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard promise != nil else {
            // Bytes no request asked for: the connection can no longer be trusted to pair answers with requests.
            fail(HTTP1ExchangeError(code: .failed, detail: "an answer no request asked for"))
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            // NIO's decoder drops interim answers but passes on a `101 Switching Protocols`, after which it parses
            // nothing more: the connection is no longer HTTP, and is closed rather than kept.
            guard head.status.code >= 200 else {
                fail(HTTP1ExchangeError(code: .failed, detail: "\(peer) switched protocols (\(head.status.code))"))
                return
            }
            status = head.status
            headers = head.headers
            keepAlive = head.isKeepAlive
            keepAliveSeconds = Self.keepAliveTimeout(head.headers)
        case .body(var part):
            guard body.readableBytes + part.readableBytes <= limit else {
                fail(HTTP1ExchangeError(code: .answerTooLarge, detail: "an answer larger than \(limit) bytes"))
                return
            }
            body.writeBuffer(&part)
        case .end:
            guard let status else { return fail(HTTP1ExchangeError(code: .failed, detail: "an answer without a head")) }
            // An answer that came before the whole request was written leaves bytes in flight that may be read as
            // the next request's answer: the connection is not used again.
            let reusable = keepAlive && requestWritten && !closed
            finish(with: .success(HTTP1Answer(status: status, headers: headers, body: body, reusable: reusable,
                                              keepAliveSeconds: keepAliveSeconds)))
            body = ByteBuffer()
            if !reusable { close() }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        let closedByPeer = HTTP1ExchangeError(code: .closed, detail: "\(peer) closed the connection")
        failReady(closedByPeer)
        finish(with: .failure(closedByPeer))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failed = HTTP1ExchangeError(code: .failed, detail: "\(error)")
        failReady(failed)
        fail(failed)
    }

    /// `N` of `Keep-Alive: timeout=N` (RFC 2068 §19.7.1.1, what Node and uvicorn send).
    static func keepAliveTimeout(_ headers: HTTPHeaders) -> Int? {
        for value in headers["Keep-Alive"] {
            for parameter in value.split(separator: ",") {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if pair.count == 2, pair[0].lowercased() == "timeout", let seconds = Int(pair[1]), seconds >= 0 { return seconds }
            }
        }
        return nil
    }

    private func fail(_ error: HTTP1ExchangeError) {
        finish(with: .failure(error))
        close()
    }

    private func close() {
        guard !closed else { return }
        closed = true
        context?.close(promise: nil)
    }

    private func finish(with result: Result<HTTP1Answer, any Error>) {
        guard let promise else { return }
        timer?.cancel()
        timer = nil
        self.promise = nil
        promise.completeWith(result)
    }
}
