import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request has not arrived whole (head to end of body) within `timeout` of its head.
/// Hummingbird's idle timeout starts again with every part read, so without this a body sent a byte at a time, each just
/// inside the idle timeout, would hold its connection for as long as its sender liked.
public final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head where deadline == nil:
            let context = NIOLoopBound(context, eventLoop: context.eventLoop)
            deadline = context.value.eventLoop.scheduleTask(in: timeout) { context.value.close(promise: nil) }
        case .end:
            stop()
        case .head, .body:
            break
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
    }
}
