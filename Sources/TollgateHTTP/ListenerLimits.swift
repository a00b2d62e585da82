import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// What the clients of one listener may hold: connections at most (beyond that the listener stops accepting, and new
/// connections wait in the kernel's backlog until one closes), and how long a connection may sit idle (between requests,
/// or while its request is being sent) or leave its answer unread before it is closed. Each connection holds at most
/// one request body and one answer in memory, so these bound what a flood of connections can pin.
public struct ListenerLimits: Sendable, Hashable {
    public var maxConnections: Int
    public var idleTimeoutSeconds: Int

    public init(maxConnections: Int = 1024, idleTimeoutSeconds: Int = 60) {
        self.maxConnections = maxConnections
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }

    /// The admin listener's: one operator's tools on loopback.
    public static let admin = ListenerLimits(maxConnections: 64, idleTimeoutSeconds: 60)

    /// The HTTP/1 server for `Application(server:)`.
    public func server() -> HTTPServerBuilder {
        let timeout = TimeAmount.seconds(Int64(idleTimeoutSeconds))
        return .http1(configuration: .init(additionalChannelHandlers: [UnreadAnswerHandler(timeout: timeout)], idleTimeout: timeout))
    }

    /// The application's configuration, listening on `address`.
    public func configuration(address: BindAddress, serverName: String, logger: Logger) -> ApplicationConfiguration {
        .init(address: address, serverName: serverName,
              availableConnectionsDelegate: MaximumAvailableConnections(maxConnections, logger: logger))
    }
}

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
