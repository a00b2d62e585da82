import NIOCore

/// Closes a connection whose client has stopped reading its answer: while the channel is unwritable (more of the answer
/// waits in the socket's buffers than NIO lets pile up), the bytes waiting are looked at every `timeout`, and the
/// connection is closed when they did not shrink over one (a client reading slowly but steadily keeps its connection;
/// one reading nothing loses it). Hummingbird's idle timeout does not run while an answer is being written, so without
/// this a client that never reads would hold its connection and its answer (up to the largest upstream answer) forever.
public final class UnreadAnswerHandler: ChannelInboundHandler, RemovableChannelHandler {
    /// Whatever the decoder passes on, untouched.
    public typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private var check: Scheduled<Void>?
    /// The bytes waiting to be written at the last look.
    private var waiting = 0

    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stop()
        } else if check == nil {
            waiting = Self.waiting(context) ?? 0
            schedule(context)
        }
        context.fireChannelWritabilityChanged()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    private func schedule(_ context: ChannelHandlerContext) {
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(in: timeout) { bound.value.handler.look(bound.value.context) }
    }

    private func look(_ context: ChannelHandlerContext) {
        check = nil
        guard !context.channel.isWritable else { return }
        // Unknown (a channel that cannot say): judged as no progress.
        if let now = Self.waiting(context), now < waiting {
            waiting = now
            schedule(context)
        } else {
            context.close(promise: nil)
        }
    }

    private func stop() {
        check?.cancel()
        check = nil
    }

    private static func waiting(_ context: ChannelHandlerContext) -> Int? {
        try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)
    }
}
