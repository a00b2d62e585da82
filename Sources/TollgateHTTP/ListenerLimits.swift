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

/// Closes a connection whose client has stopped reading its answer: the channel stays unwritable (the socket's send
/// buffer full) for `timeout`. Hummingbird's idle timeout does not run while an answer is being written, so without
/// this a client that never reads would hold its connection and its answer (up to the largest upstream answer) forever.
public final class UnreadAnswerHandler: ChannelInboundHandler, RemovableChannelHandler {
    /// Whatever the decoder passes on, untouched.
    public typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private var closing: Scheduled<Void>?

    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            closing?.cancel()
            closing = nil
        } else if closing == nil {
            let context = NIOLoopBound(context, eventLoop: context.eventLoop)
            closing = context.value.eventLoop.scheduleTask(in: timeout) { context.value.close(promise: nil) }
        }
        context.fireChannelWritabilityChanged()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        closing?.cancel()
        closing = nil
    }

    public func channelInactive(context: ChannelHandlerContext) {
        closing?.cancel()
        closing = nil
        context.fireChannelInactive()
    }
}
