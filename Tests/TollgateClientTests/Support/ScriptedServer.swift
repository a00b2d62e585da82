import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A loopback HTTP/1.1 server whose script answers each request: a status, headers and a body, or the connection
/// dropped without an answer (what a client sees when its request times out while the server is still at work). It
/// records every request it read, so a test can say which proofs reached it.
final class ScriptedServer: Sendable {
    struct Request: Sendable {
        var method: String
        var uri: String
        var headers: HTTPHeaders
        var body: String
    }

    enum Reply: Sendable {
        case answer(status: Int, headers: [(String, String)] = [], body: String = "")
        /// The connection closed with no answer.
        case drop
    }

    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }
    private let channel: any Channel
    private let log = RequestLog()

    var requests: [Request] { log.requests.withLock { $0 } }

    /// The requests read, shared by the server and its connections.
    final class RequestLog: Sendable {
        let requests = Mutex<[Request]>([])
    }

    init(script: @escaping @Sendable (Request) -> Reply) async throws {
        let log = log
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
                    try channel.pipeline.syncOperations.addHandler(Connection(log: log, script: script))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    func stop() async throws { try await channel.close() }

    private final class Connection: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = ByteBuffer

        let log: RequestLog
        let script: @Sendable (Request) -> Reply
        var head: HTTPRequestHead?
        var body = ""

        init(log: RequestLog, script: @escaping @Sendable (Request) -> Reply) {
            self.log = log
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
                let request = Request(method: head.method.rawValue, uri: head.uri, headers: head.headers, body: body)
                log.requests.withLock { $0.append(request) }
                switch script(request) {
                case .answer(let status, let headers, let body):
                    var text = "HTTP/1.1 \(status) \(HTTPResponseStatus(statusCode: status).reasonPhrase)\r\nContent-Length: \(body.utf8.count)\r\n"
                    for (name, value) in headers { text += "\(name): \(value)\r\n" }
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text + "\r\n" + body)), promise: nil)
                case .drop:
                    context.close(promise: nil)
                }
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }
}
