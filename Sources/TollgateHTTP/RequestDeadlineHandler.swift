import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request has not arrived whole (head to end of body) within `timeout` of its head.
/// Hummingbird's idle timeout starts again with every part read, so without this a body sent a byte at a time, each just
/// inside the idle timeout, would hold its connection for as long as its sender liked. The timer is set by the first
/// part of a body still to come: a request without a body (its head and end read together) sets none, and a head
/// followed by nothing is the idle timeout's.
public final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart

    private let timeout: TimeAmount
    /// When the request being read must have ended.
    private var due: NIODeadline?
    private var deadline: Scheduled<Void>?

    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            due = .now() + timeout
        case .body where deadline == nil:
            guard let due else { break }
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            deadline = context.eventLoop.scheduleTask(deadline: due) { bound.value.close(promise: nil) }
        case .body:
            break
        case .end:
            stop()
        }
        context.fireChannelRead(data)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    private func stop() {
        deadline?.cancel()
        deadline = nil
        due = nil
    }
}
