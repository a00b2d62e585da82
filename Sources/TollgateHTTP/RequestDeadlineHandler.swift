import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request has not arrived whole (head to end of body) within `timeout`. Hummingbird's idle
/// timeout starts again with every part read and does not run while an answer is pending, so without this a body sent
/// a byte at a time, or a pipelined head whose body never comes behind a slow answer, would hold its connection for as
/// long as its sender liked. The time counts from the head, or, for a request pipelined behind answers still being
/// written, from the end of the last of them (its parts wait in the socket meanwhile: a paid answer in flight is never
/// cut for a request queued behind it). The timer is set once a read ends with the request still incomplete: a request
/// read whole in one go (most) sets none.
public final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    /// Requests whose answer has not been written to its end.
    private var unanswered = 0
    /// Whether a request's head was read and not its end.
    private var reading = false
    /// When the request being read must have ended; nil while answers before it are pending.
    private var due: NIODeadline?
    private var deadline: Scheduled<Void>?

    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            reading = true
            due = unanswered == 0 ? context.eventLoop.now + timeout : nil
            unanswered += 1
        case .body:
            break
        case .end:
            reading = false
            stop()
        }
        context.fireChannelRead(data)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelReadComplete()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            unanswered = max(0, unanswered - 1)
            // The request being read waited behind this answer: its time starts now.
            if reading, unanswered == 1, due == nil {
                due = context.eventLoop.now + timeout
                arm(context)
            }
        }
        context.write(data, promise: promise)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard reading, deadline == nil, let due else { return }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(deadline: due) { bound.value.close(promise: nil) }
    }

    private func stop() {
        deadline?.cancel()
        deadline = nil
        if !reading { due = nil }
    }
}
