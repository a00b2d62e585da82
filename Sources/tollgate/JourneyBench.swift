import ArgumentParser
import Foundation
import HTTPTypes
import Logging
import ServiceLifecycle
import Synchronization
import TollgateConfiguration
import TollgateCore
import TollgateDevFacilitator
import TollgateGateway
import TollgateX402

/// `tollgate bench --mode journey --config FILE --requests N --concurrency C [--header 'Name: value']`: what the gateway's
/// own work for a 402 costs, in process: the journey of an unpaid request to `--path` (identify, limits, price, terms, the
/// audit event and its batched commit) through `Gateway.handle`, with no socket, no HTTP parser and no load generator
/// sharing the cores. With a header carrying a proof (`--mode forged-header` prints one), the 402 that refuses it. With
/// `--paid`, paid requests instead: each with a payment signed before the run for a 402 of its own (a fresh payer and
/// nonce each), verified locally, claimed, settled and forwarded, its commits synced as configured; the facilitator
/// accepts every payment at once and the upstream answers a fixed JSON array, both in process and nearly free, so the
/// CPU counted is the gateway's own (its local checks, store, audit and encoding).
/// The configuration is the one given (its routes, assets, keys); its store is replaced by a fresh SQLite database in a
/// scratch directory, its facilitators by the development facilitator in process (the accepting one with `--paid`), and
/// its rate limits by limits that count every request but refuse none. Prints the wall time and the process's CPU time per 402, the latter
/// including the audit writer's, counted until the last event is committed. Steadier than the whole-request figures of
/// `scripts/bench.sh` on a shared machine: compare two binaries.
enum JourneyBench {
    static func run(config: String, path: String, headers: [(String, String)] = [], paid: Bool = false, answerBytes: Int? = nil,
                    requests: Int, concurrency: Int) async throws {
        guard requests > 0, concurrency > 0 else { throw ValidationError("--requests and --concurrency must be at least 1") }
        if let answerBytes, !(FixedUpstream.body.count...(64 << 20)).contains(answerBytes) {
            throw ValidationError("--answer-bytes must be between \(FixedUpstream.body.count) and \(64 << 20)")
        }
        let upstream = FixedUpstream(bytes: answerBytes)
        var configuration = try ConfigurationFile.load(config)
        let scratch = NSTemporaryDirectory() + "tollgate-journey-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        configuration.sqlitePath = scratch + "/gateway.sqlite"
        configuration.postgres = nil
        configuration.auditHeadFile = nil
        // The limiter still counts every request (its work is part of one) but never refuses: the bench measures 402s and
        // paid answers, not 429s. The tolerance (burst over rate, here about 35 minutes) must outlast the run: requests
        // are judged at their arrival, and concurrent ones reach the limiter out of order (a 1e12/s rate left 2 ms, and a
        // busy machine got 429s).
        let unlimited = RateLimit(ratePerSecond: 1e6, burst: Int(Int32.max))
        func neverRefusing(_ limits: inout TrafficLimits.ClassLimits) {
            if limits.unpaid != nil { limits.unpaid = unlimited }
            if limits.invalid != nil { limits.invalid = unlimited }
            if limits.paid != nil { limits.paid = unlimited }
        }
        neverRefusing(&configuration.limits.global)
        for route in configuration.limits.perRoute.keys { neverRefusing(&configuration.limits.perRoute[route]!) }
        var logger = Logger(label: "tollgate.bench.journey")
        logger.logLevel = .error
        let keys = try ConfigurationFile.keys(configuration)
        // Opened as `serve` opens it (audit keys, the configured sync mode), at the scratch path.
        let store = try await ConfigurationFile.openStore(configuration, logger: logger)
        let facilitator: any TollgateX402.Facilitator = paid ? AcceptingFacilitator(networks: Array(configuration.paidNetworks))
            : try DevFacilitator(networks: Array(configuration.paidNetworks), ledger: try DevLedger(path: scratch + "/facilitator.sqlite"))
        let assembly = GatewayAssembly(configuration: configuration, keys: keys, contractKeys: try ConfigurationFile.contractKeys(configuration, offerKeys: keys),
                                       store: store, logger: logger, facilitatorOverride: [facilitator])
        let group = ServiceGroup(configuration: .init(services: assembly.services.map { .init(service: $0) }, logger: logger))
        let gateway = assembly.gateway
        var fields: HTTPFields = [.accept: "application/json"]
        for (name, value) in headers {
            guard let name = HTTPField.Name(name) else { throw ValidationError("--header \(name): not a header name") }
            fields.append(HTTPField(name: name, value: value))
        }
        let request = GatewayRequest(method: .get, target: path, headerFields: fields, remoteAddress: "127.0.0.1")

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            _ = await assembly.facilitators.refresh(logger: logger)
            let first = await gateway.handle(request)
            guard first.status == .paymentRequired else {
                Console.error("bench: \(path) answered \(first.status.code), not 402: pick a paid route with --path")
                await group.triggerGracefulShutdown()
                throw ExitCode.failure
            }
            let warmUp = min(requests, 2_000)
            let measured: [GatewayRequest], expected: HTTPResponse.Status
            if paid {
                // Signed ahead, each for a 402 of its own: the measured requests only pay.
                let payments = try await Self.payments(gateway, request, count: warmUp + requests)
                try await load(gateway, Array(payments.prefix(warmUp)), upstream: upstream, expecting: .ok, concurrency: concurrency)
                (measured, expected) = (Array(payments.dropFirst(warmUp)), .ok)
            } else {
                // Warm-up: caches, the audit table's first pages, the allocator.
                try await load(gateway, Array(repeating: request, count: warmUp), upstream: upstream, expecting: .paymentRequired,
                               concurrency: concurrency)
                (measured, expected) = (Array(repeating: request, count: requests), .paymentRequired)
            }
            let before = ProcessCPU.now()
            let writtenBefore = ProcessCPU.bytesWritten()
            let started = ContinuousClock.now
            try await load(gateway, measured, upstream: upstream, expecting: expected, concurrency: concurrency)
            let answered = ContinuousClock.now - started
            // The events of the measured 402s are committed by the batcher after the answers: its shutdown flushes them,
            // so their CPU is counted too.
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            let cpu = ProcessCPU.now() - before
            let written = ProcessCPU.bytesWritten().flatMap { after in writtenBefore.map { after - $0 } }
            let perRequest = { (seconds: Double) in String(format: "%7.1f µs", seconds * 1_000_000 / Double(requests)) }
            let what = paid ? "paid request" : "402"
            print("in process, \(requests) \(paid ? "paid requests" : "402s") of \(path)"
                  + (headers.isEmpty ? "" : " with \(headers.map(\.0).joined(separator: ", "))") + ", \(concurrency) at a time")
            func label(_ text: String) -> String { text.padding(toLength: max(32, text.count + 1), withPad: " ", startingAt: 0) }
            print(label("wall time per \(what) (answers)") + perRequest(Double(answered.inNanoseconds) / 1e9))
            print(label("CPU per \(what) (all threads)") + perRequest(cpu.total)
                  + String(format: "  (%.0f %% kernel)", cpu.total > 0 ? cpu.system / cpu.total * 100 : 0))
            if let written {
                // Every write of the process (the store's WAL and checkpoints): what durability costs the disk.
                print(label("written per \(what)") + String(format: "%7.1f KiB", Double(written) / 1024 / Double(requests))
                      + (paid ? " (answers of \(upstream.body.count) bytes)" : ""))
            }
        }
    }

    /// `count` paid requests: a 402 of the gateway for each, paid by a fresh payer with the x402 client's own signing.
    private static func payments(_ gateway: Gateway, _ unpaid: GatewayRequest, count: Int) async throws -> [GatewayRequest] {
        var payments: [GatewayRequest] = []
        payments.reserveCapacity(count)
        for _ in 0..<count {
            let offer = await gateway.handle(unpaid)
            guard let header = offer.headerFields[HTTPField.Name(X402.paymentRequiredHeader)!], let terms = HeaderCodec.read(X402.PaymentRequired.self, header: header),
                  let payer = ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()) else {
                Console.error("bench: the 402 of \(unpaid.target) has no x402 v2 terms to pay")
                throw ExitCode.failure
            }
            var paid = unpaid
            paid.headerFields[HTTPField.Name(X402.paymentSignatureHeader)!] = HeaderCodec.encode(try payer.pay(terms, now: Int64(Date().timeIntervalSince1970)))
            payments.append(paid)
        }
        return payments
    }

    private static func load(_ gateway: Gateway, _ requests: [GatewayRequest], upstream fixed: FixedUpstream,
                             expecting expected: HTTPResponse.Status, concurrency: Int) async throws {
        // Only paid requests reach an upstream; a 402 goes through `handle` as `serve` sends it (no per-request copy of the
        // gateway to swap its upstream).
        let upstream: FixedUpstream? = expected == .paymentRequired ? nil : fixed
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for worker in 0..<concurrency {
                tasks.addTask {
                    for index in stride(from: worker, to: requests.count, by: concurrency) {
                        let response = if let upstream { await gateway.handle(requests[index], upstream: upstream) }
                                       else { await gateway.handle(requests[index]) }
                        guard response.status == expected else {
                            Console.error("bench: a request of the run answered \(response.status.code), not \(expected.code): "
                                          + String(decoding: response.body.prefix(300), as: UTF8.self))
                            throw ExitCode.failure
                        }
                    }
                }
            }
            try await tasks.waitForAll()
        }
    }
}

/// The facilitator of `--paid`: every payment valid and settled at once, with no check and no ledger (its cost is not the
/// gateway's; the gateway still verifies each signature itself).
private final class AcceptingFacilitator: TollgateX402.Facilitator {
    let name = "in-process accepting facilitator"
    let networks: [String]
    private let settled = Mutex(0)

    init(networks: [String]) { self.networks = networks }

    func supported(logger: Logger) async throws -> X402.SupportedResponse {
        .init(kinds: networks.map { .init(x402Version: X402.version, scheme: "exact", network: $0) })
    }

    func verify(_ request: X402.FacilitatorRequest, logger: Logger) async throws -> X402.VerifyResponse {
        .init(isValid: true, payer: nil)
    }

    func settle(_ request: X402.FacilitatorRequest, logger: Logger) async throws -> X402.SettleResponse {
        let number = settled.withLock { count in
            count += 1
            return count
        }
        // Foundation's `String(format:)` cost about 1 % of the measured paid request: this peer is meant to be nearly free.
        let hex = String(number, radix: 16)
        return .init(success: true, payer: nil, transaction: "0x" + String(repeating: "0", count: 64 - hex.count) + hex,
                     network: networks.first ?? "")
    }
}

/// The upstream of the in-process bench: a fixed JSON array for every request, `bytes` long when asked (the record
/// repeated, then padded with spaces: a large paid answer without the cost of making one).
private struct FixedUpstream: Upstream {
    static let body = Array(#"[{"day":"2026-12-05","symbol":"ACME","close":101.5}]"#.utf8)
    let body: [UInt8]

    init(bytes: Int?) {
        guard let bytes, bytes > Self.body.count else {
            body = Self.body
            return
        }
        let record = Self.body.dropFirst().dropLast()
        var body: [UInt8] = [UInt8(ascii: "[")]
        body.reserveCapacity(bytes)
        body.append(contentsOf: record)
        while body.count + 1 + record.count + 1 <= bytes {
            body.append(UInt8(ascii: ","))
            body.append(contentsOf: record)
        }
        body.append(contentsOf: repeatElement(UInt8(ascii: " "), count: bytes - body.count - 1))
        body.append(UInt8(ascii: "]"))
        self.body = body
    }

    func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        UpstreamResponse(status: .ok, headerFields: [.contentType: "application/json"], body: body)
    }
}

/// The CPU time this process has used (all threads), from `getrusage`.
struct ProcessCPU {
    var user: Double
    var system: Double
    var total: Double { user + system }

    static func now() -> ProcessCPU {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return ProcessCPU(user: seconds(usage.ru_utime), system: seconds(usage.ru_stime))
    }

    /// The bytes this process has handed to `write` and its kin (`wchar` of `/proc/self/io`); nil where there is none.
    static func bytesWritten() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/io", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("wchar:") {
            return Int(line.dropFirst("wchar:".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    static func - (after: ProcessCPU, before: ProcessCPU) -> ProcessCPU {
        ProcessCPU(user: after.user - before.user, system: after.system - before.system)
    }
}
