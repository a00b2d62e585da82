import ArgumentParser
import AsyncHTTPClient
import Foundation
import Synchronization
import TollgateCore
import TollgateMCP
import TollgateX402

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load-test an x402 endpoint: 402 throughput, then paid requests with freshly signed payments.")

    @Option(help: "Base URL of the gateway (or of any x402 v2 server); not with the in-process modes.")
    var target: String?

    @Option(name: .shortAndLong, help: "With --mode journey: the gateway configuration whose 402 to measure (its store and facilitators are replaced by fresh in-process ones).")
    var config: String?

    @Option(help: "Path of a paid resource.")
    var path = "/datasets/prices"

    @Option(help: "Requests per phase.")
    var requests = 1000

    @Option(help: "Requests in flight at once.")
    var concurrency = 16

    @Option(name: .customLong("header"), help: "Extra request header 'Name: value' (repeatable), e.g. an API key.")
    var headers: [String] = []

    @Option(help: "Bench an MCP endpoint instead (the target is its URL, e.g. http://127.0.0.1:8405/mcp): tools/call of this tool, paid with the x402 MCP transport.")
    var mcpTool: String?

    @Option(help: "The tool's arguments (JSON object), with --mcp-tool.")
    var mcpArguments = "{}"

    @Option(help: "Which phases to run: unpaid, paid, invalid, all; keyflood (in process: limiter memory under distinct keys); paths (in process: the path normaliser's cost); readers (in process: reading a paid request's JSON, before and now); terms (in process: writing a 402's terms); journey (in process: the gateway's whole 402, with --config); forged-header (print a well-formed proof with a broken signature, for external load generators such as wrk); presign (fetch REQUESTS 402s, sign each, and write one payment per line to --out: PAYMENT-SIGNATURE values, or with --mcp-tool paid tools/call bodies, for wrk).")
    var mode = "all"

    @Flag(help: "With --mode journey: paid requests (a payment signed ahead for each, an in-process facilitator that accepts every payment and an upstream that answers at once) instead of 402s.")
    var paid = false

    @Option(name: .customLong("answer-bytes"), help: "With --mode journey --paid: the size of the in-process upstream's answer in bytes (a JSON array; default 52), to measure what keeping a large paid answer costs.")
    var answerBytes: Int?

    @Option(help: "With --mode presign: the file to write.")
    var out: String?

    @Option(name: .customLong("x402-version"), help: "With --mode presign: 2 (PAYMENT-SIGNATURE values) or 1 (X-PAYMENT values, x402 v1).")
    var x402Version = 2

    func validate() throws {
        guard requests >= 1, concurrency >= 1 else { throw ValidationError("--requests and --concurrency must be at least 1") }
    }

    func run() async throws {
        if mode == "keyflood" { return KeyFlood.run(keys: requests) }
        if mode == "paths" { return PathBench.run(iterations: requests) }
        if mode == "readers" { return try ReaderBench.run(iterations: requests) }
        if mode == "terms" { return TermsBench.run(iterations: requests) }
        let extra = headers.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]).trimmingCharacters(in: .whitespaces), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        if mode == "journey" {
            guard let config else { throw ValidationError("--mode journey needs --config (a gateway configuration)") }
            if answerBytes != nil, !paid { throw ValidationError("--answer-bytes is for --mode journey --paid") }
            return try await JourneyBench.run(config: config, path: path, headers: extra, paid: paid, answerBytes: answerBytes,
                                              requests: requests, concurrency: concurrency)
        }
        guard let target else { throw ValidationError("--target is needed (the base URL of the gateway)") }
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = concurrency
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            try await runPhases(http, target: target, extra: extra)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    func runPhases(_ http: HTTPClient, target: String, extra: [(String, String)]) async throws {
        guard let payer = ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()) else { throw ExitCode.failure }
        if let mcpTool { return try await runMCPPhases(http, target: target, payer: payer, tool: mcpTool, extra: extra) }
        let client = PayingClient(client: http, payer: payer)
        let url = target + path
        if mode == "presign" {
            guard [1, 2].contains(x402Version) else { throw ValidationError("--x402-version is 1 or 2") }
            let version = x402Version
            return try await presign { _ in
                guard let terms = try await client.get(url, headers: extra).paymentRequired else { return nil }
                return version == X402V1.version ? try client.signV1(terms) : try client.sign(terms)
            }
        }
        if mode != "forged-header" { print("tollgate bench: \(url), \(requests) requests per phase, concurrency \(concurrency), \(ProcessInfo.processInfo.activeProcessorCount) cores") }

        if mode == "all" || mode == "unpaid" {
            let result = try await measure(requests, concurrency) { _ in
                let exchange = try await client.get(url, headers: extra)
                return exchange.status == 402
            }
            print(result.line("402 (no proof)"))
        }
        if mode == "all" || mode == "invalid" {
            let terms = try await client.get(url, headers: extra).paymentRequired
            guard let terms else { throw ValidationError("the target did not answer 402 with PAYMENT-REQUIRED") }
            // A valid-looking proof whose signature is broken: refused locally, never reaching a facilitator.
            var payload = try payer.pay(terms, now: Int64(Date().timeIntervalSince1970))
            payload.payload.signature = "0x" + String(repeating: "11", count: 64) + "1b"
            let forged = HeaderCodec.encode(payload)
            let result = try await measure(requests, concurrency) { _ in
                let exchange = try await client.get(url, headers: extra + [(X402.paymentSignatureHeader, forged)])
                return exchange.status == 402
            }
            print(result.line("invalid proof refused"))
        }
        if mode == "forged-header" {
            let terms = try await client.get(url, headers: extra).paymentRequired
            guard let terms else { throw ValidationError("the target did not answer 402 with PAYMENT-REQUIRED") }
            var payload = try payer.pay(terms, now: Int64(Date().timeIntervalSince1970))
            payload.payload.signature = "0x" + String(repeating: "11", count: 64) + "1b"
            print(HeaderCodec.encode(payload))
            return
        }
        if mode == "all" || mode == "paid" {
            let result = try await measure(requests, concurrency) { _ in
                let first = try await client.get(url, headers: extra)
                guard let terms = first.paymentRequired else { return false }
                let paid = try await client.get(url, headers: extra + [(X402.paymentSignatureHeader, try client.sign(terms))])
                return (200..<300).contains(paid.status) && paid.paymentResponse?.success == true
            }
            print(result.line("paid flow (402 + paid retry)"))
        }
    }

    func runMCPPhases(_ http: HTTPClient, target: String, payer: ExactEVMPayer, tool: String, extra: [(String, String)]) async throws {
        guard let arguments = JSONValue.parse(Array(mcpArguments.utf8)), arguments.object != nil else {
            throw ValidationError("--mcp-arguments expects a JSON object")
        }
        let client = MCPBenchClient(url: target, http: http, payer: payer, tool: tool, arguments: arguments, extra: extra)
        if mode == "presign" {
            return try await presign { _ in
                guard let terms = MCPBenchClient.terms(try await client.call()) else { return nil }
                return String(decoding: client.message(payment: try client.payment(for: terms)).bytes, as: UTF8.self)
            }
        }
        print("tollgate bench: MCP \(target) tool \(tool), \(requests) calls per phase, concurrency \(concurrency), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        if mode == "all" || mode == "unpaid" {
            let result = try await measure(requests, concurrency) { _ in MCPBenchClient.terms(try await client.call()) != nil }
            print(result.line("PaymentRequired result (no payment)"))
        }
        if mode == "all" || mode == "paid" {
            let result = try await measure(requests, concurrency) { _ in try await client.paidFlow() }
            print(result.line("paid tool call (PaymentRequired + paid retry)"))
        }
    }

    /// `--mode presign`: `requests` payments made ahead (each from a 402 of its own, so each is fresh and single-use),
    /// one per line in `--out`, so a C load generator can send paid requests without signing in the measured run.
    func presign(_ make: @escaping @Sendable (Int) async throws -> String?) async throws {
        guard let out else { throw ValidationError("--mode presign needs --out FILE") }
        let lines = Mutex<[String]>([])
        let result = try await measure(requests, concurrency) { index in
            guard let line = try await make(index) else { return false }
            lines.withLock { $0.append(line) }
            return true
        }
        let text = lines.withLock { $0.joined(separator: "\n") } + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: out))
        print(result.line("presigned payments (402 + signature) written to \(out)"))
        if result.failures > 0 { throw ExitCode.failure }
    }

    struct Result {
        var count: Int
        var failures: Int
        var seconds: Double
        var latencies: [Double]

        func line(_ label: String) -> String {
            let sorted = latencies.sorted()
            func percentile(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
            return String(format: "%@: %d ok, %d failed in %.2f s = %.0f/s; p50 %.2f ms, p99 %.2f ms",
                          label, count - failures, failures, seconds, Double(count - failures) / seconds,
                          percentile(0.5) * 1000, percentile(0.99) * 1000)
        }
    }

    func measure(_ total: Int, _ concurrency: Int, _ work: @escaping @Sendable (Int) async throws -> Bool) async throws -> Result {
        let start = ContinuousClock.now
        let perWorker = (0..<concurrency).map { total / concurrency + ($0 < total % concurrency ? 1 : 0) }
        let outcomes = try await withThrowingTaskGroup(of: [(Double, Bool)].self) { group in
            for count in perWorker {
                group.addTask {
                    var results: [(Double, Bool)] = []
                    for index in 0..<count {
                        let began = ContinuousClock.now
                        let ok = (try? await work(index)) ?? false
                        let elapsed = ContinuousClock.now - began
                        results.append((elapsed.inSeconds, ok))
                    }
                    return results
                }
            }
            var all: [(Double, Bool)] = []
            for try await part in group { all += part }
            return all
        }
        let elapsed = ContinuousClock.now - start
        return Result(count: outcomes.count, failures: outcomes.filter { !$0.1 }.count,
                      seconds: elapsed.inSeconds,
                      latencies: outcomes.map(\.0))
    }
}
