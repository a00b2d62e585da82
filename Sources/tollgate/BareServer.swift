import ArgumentParser
import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import TollgateConfiguration

/// `tollgate bench-bare-402`: the yardstick of `scripts/bench.sh`. A bare Hummingbird 2 route that answers every
/// request with one fixed 402 (status, headers and body copied once from the gateway at start-up), so the benchmark
/// can print how the gateway's 402 path compares with the cheapest server that sends the same bytes.
struct BenchBare402: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-bare-402",
        abstract: "Benchmark yardstick: serve one fixed 402 (copied from --copy-from) from a bare Hummingbird route.",
        shouldDisplay: false)

    @Option(help: "Address to listen on.")
    var listen = "127.0.0.1:8409"

    @Option(help: "URL whose 402 answer (headers and body) is copied once and then served to every request.")
    var copyFrom: String

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        guard let address = GatewayConfiguration.Listen(listen) else { throw ValidationError("--listen expects host:port") }
        let logger = logging.makeLogger("tollgate.bench-bare-402")
        let (fields, body) = try await copy()
        let router = Router()
        let answer = { @Sendable (_: Request, _: BasicRequestContext) -> Response in
            Response(status: .init(code: 402), headers: fields, body: .init(byteBuffer: body))
        }
        router.get("/", use: answer)
        router.get("**", use: answer)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "tollgate-bench-bare"),
            logger: logger)
        try await app.runService()
    }

    /// The 402 to serve: its headers without those the server writes itself, and its body.
    func copy() async throws -> (HTTPFields, ByteBuffer) {
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await http.execute(HTTPClientRequest(url: copyFrom), timeout: .seconds(10))
            body = try await response.body.collect(upTo: 1 << 20)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
        guard response.status.code == 402 else { throw ValidationError("\(copyFrom) answered \(response.status.code), not 402") }
        var fields = HTTPFields()
        for header in response.headers where !["content-length", "date", "connection", "server"].contains(header.name.lowercased()) {
            if let name = HTTPField.Name(header.name) { fields.append(HTTPField(name: name, value: header.value)) }
        }
        return (fields, body)
    }
}
