import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A loopback HTTP server that answers each request with the raw bytes its script chooses, so a test can send what no
/// well-behaved facilitator would: an answer after the deadline, two answers to one request, an answer and a close.
/// It records the requests it read and counts the connections it accepted.
final class ScriptedHTTPServer: Sendable {
    struct Request: Sendable {
        var head: HTTPRequestHead
        var body: String
        /// Which connection carried it (1 for the first accepted) and its place among all requests (0 for the first).
        var connection: Int
        var index: Int
    }

    enum Reply: Sendable {
        case bytes(String)
        case after(TimeAmount, String)
        /// The bytes, then the connection closed.
        case bytesThenClose(String)
        case close
    }

    /// A complete answer with a body and a length.
    static func ok(_ body: String, extraHeaders: String = "") -> String {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\(extraHeaders)\r\n\(body)"
    }

    let port: Int
    private let channel: any Channel
    private let state: NIOLockedValueBox<(connections: Int, requests: [Request])>

    var requests: [Request] { state.withLockedValue { $0.requests } }
    var connections: Int { state.withLockedValue { $0.connections } }

    init(tls: NIOSSLContext? = nil, script: @escaping @Sendable (Request) -> Reply) async throws {
        let state = NIOLockedValueBox<(connections: Int, requests: [Request])>((0, []))
        self.state = state
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let number = state.withLockedValue { $0.connections += 1; return $0.connections }
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
                    try channel.pipeline.syncOperations.addHandler(Connection(number: number, state: state, script: script))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    func stop() async throws { try await channel.close() }

    private final class Connection: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = ByteBuffer

        let number: Int
        let state: NIOLockedValueBox<(connections: Int, requests: [Request])>
        let script: @Sendable (Request) -> Reply
        var head: HTTPRequestHead?
        var body = ""

        init(number: Int, state: NIOLockedValueBox<(connections: Int, requests: [Request])>, script: @escaping @Sendable (Request) -> Reply) {
            self.number = number
            self.state = state
            self.script = script
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = ""
            case .body(let part):
                body += String(buffer: part)
            case .end:
                guard let head else { return }
                let request = state.withLockedValue { state in
                    let request = Request(head: head, body: body, connection: number, index: state.requests.count)
                    state.requests.append(request)
                    return request
                }
                switch script(request) {
                case .bytes(let text):
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
                case .after(let delay, let text):
                    let buffer = ByteBuffer(string: text)
                    context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
                        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
                    }
                case .bytesThenClose(let text):
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text))).assumeIsolated().whenComplete { _ in
                        context.close(promise: nil)
                    }
                case .close:
                    context.close(promise: nil)
                }
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }
}
