import ArgumentParser
import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import TollgateConfiguration

/// `tollgate bench-bare-402`: the yardsticks of `scripts/bench.sh`. A bare Hummingbird 2 route that answers every
/// request with one fixed 402 (status, headers and body copied once from the gateway at start-up), so the benchmark
/// can print how the gateway's 402 path compares with the cheapest server that sends the same bytes.
///
/// With `--facilitator` and `--upstream`, a request carrying `PAYMENT-SIGNATURE` takes the bare paid path instead: the
/// three calls any x402 server makes for it, with the same HTTP client the gateway uses (verify, settle, fetch the
/// upstream answer) and nothing else: no parsing beyond base64, no checks, no database, no audit. It is the floor of
/// the stack (Hummingbird, async-http-client, the kernel's sockets) for one paid request, which the gateway's paid
/// phase is compared with. It trusts the facilitator entirely and must never serve anything but a benchmark.
struct BenchBare402: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-bare-402",
        abstract: "Benchmark yardstick: serve one fixed 402 (copied from --copy-from) from a bare Hummingbird route.",
        shouldDisplay: false)

    @Option(help: "Address to listen on.")
    var listen = "127.0.0.1:8409"

    @Option(help: "URL whose 402 answer (headers and body) is copied once and then served to every request.")
    var copyFrom: String

    @Option(help: "Facilitator base URL: with --upstream, requests carrying PAYMENT-SIGNATURE are verified, settled and forwarded.")
    var facilitator: String?

    @Option(help: "Upstream base URL the bare paid path forwards to.")
    var upstream: String?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        guard let address = GatewayConfiguration.Listen(listen) else { throw ValidationError("--listen expects host:port") }
        let logger = logging.makeLogger("tollgate.bench-bare-402")
        let (fields, body) = try await copy()
        let router = Router()
        let paid = try paidPath(offered: fields)
        let answer = { @Sendable (request: Request, _: BasicRequestContext) -> Response in
            if let paid, let header = request.headers[BarePaidPath.header] { return await paid.serve(request, payment: header) }
            return Response(status: .init(code: 402), headers: fields, body: .init(byteBuffer: body))
        }
        // The presigned wrk script's idle connections each send one GET /health (scripts/bench/presigned.lua), answered
        // 200 here as by the gateway, so the bare paid phase counts no non-2xx of its own.
        router.get("/health") { _, _ in "ok" }
        router.get("/", use: answer)
        router.get("**", use: answer)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "tollgate-bench-bare"),
            logger: logger)
        try await app.runService()
    }

    func paidPath(offered: HTTPFields) throws -> BarePaidPath? {
        guard let facilitator, let upstream else {
            if facilitator != nil || upstream != nil { throw ValidationError("--facilitator and --upstream go together") }
            return nil
        }
        return try BarePaidPath(facilitator: facilitator, upstream: upstream, offered: offered)
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
