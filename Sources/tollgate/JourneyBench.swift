import ArgumentParser
import Foundation
import HTTPTypes
import Logging
import ServiceLifecycle
import TollgateConfiguration
import TollgateCore
import TollgateDevFacilitator
import TollgateGateway
import TollgateX402

/// `tollgate bench --mode journey --config FILE --requests N --concurrency C [--header 'Name: value']`: what the gateway's
/// own work for a 402 costs, in process: the journey of an unpaid request to `--path` (identify, limits, price, terms, the
/// audit event and its batched commit) through `Gateway.handle`, with no socket, no HTTP parser and no load generator
/// sharing the cores. With a header carrying a proof (`--mode forged-header` prints one), the 402 that refuses it.
/// The configuration is the one given (its routes, assets, keys); its store is replaced by a fresh SQLite database in a
/// scratch directory, its facilitators by the development facilitator in process, and its unpaid rate limits by limits
/// that count every request but refuse none. Prints the wall time and the process's CPU time per 402, the latter
/// including the audit writer's, counted until the last event is committed. Steadier than the whole-request figures of
/// `scripts/bench.sh` on a shared machine: compare two binaries.
enum JourneyBench {
    static func run(config: String, path: String, headers: [(String, String)] = [], requests: Int, concurrency: Int) async throws {
        guard requests > 0, concurrency > 0 else { throw ValidationError("--requests and --concurrency must be at least 1") }
        var configuration = try ConfigurationFile.load(config)
        let scratch = NSTemporaryDirectory() + "tollgate-journey-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        configuration.sqlitePath = scratch + "/gateway.sqlite"
        configuration.postgres = nil
        configuration.auditHeadFile = nil
        // The limiter still counts every 402 (its work is part of one) but never refuses: the bench measures 402s, not 429s
        // (unpaid requests, and refused proofs for the run with one). The tolerance (burst over rate, here about 35
        // minutes) must outlast the run: requests are judged at their arrival, and concurrent ones reach the limiter out
        // of order (a 1e12/s rate left 2 ms, and a busy machine got 429s).
        let unlimited = RateLimit(ratePerSecond: 1e6, burst: Int(Int32.max))
        func neverRefusing(_ limits: inout TrafficLimits.ClassLimits) {
            if limits.unpaid != nil { limits.unpaid = unlimited }
            if limits.invalid != nil { limits.invalid = unlimited }
        }
        neverRefusing(&configuration.limits.global)
        for route in configuration.limits.perRoute.keys { neverRefusing(&configuration.limits.perRoute[route]!) }
        var logger = Logger(label: "tollgate.bench.journey")
        logger.logLevel = .error
        let keys = try ConfigurationFile.keys(configuration)
        // Opened as `serve` opens it (audit keys, the configured sync mode), at the scratch path.
        let store = try await ConfigurationFile.openStore(configuration, logger: logger)
        let facilitator = try DevFacilitator(networks: Array(configuration.paidNetworks),
                                             ledger: try DevLedger(path: scratch + "/facilitator.sqlite"))
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
            // Warm-up: caches, the audit table's first pages, the allocator.
            try await load(gateway, request, count: min(requests, 2_000), concurrency: concurrency)
            let before = ProcessCPU.now()
            let started = ContinuousClock.now
            try await load(gateway, request, count: requests, concurrency: concurrency)
            let answered = ContinuousClock.now - started
            // The events of the measured 402s are committed by the batcher after the answers: its shutdown flushes them,
            // so their CPU is counted too.
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            let cpu = ProcessCPU.now() - before
            let perRequest = { (seconds: Double) in String(format: "%7.1f µs", seconds * 1_000_000 / Double(requests)) }
            print("in process, \(requests) 402s of \(path)" + (headers.isEmpty ? "" : " with \(headers.map(\.0).joined(separator: ", "))")
                  + ", \(concurrency) at a time")
            print("wall time per 402 (answers)     " + perRequest(Double(answered.inNanoseconds) / 1e9))
            print("CPU per 402 (all threads)       " + perRequest(cpu.total) + String(format: "  (%.0f %% kernel)", cpu.total > 0 ? cpu.system / cpu.total * 100 : 0))
        }
    }

    private static func load(_ gateway: Gateway, _ request: GatewayRequest, count: Int, concurrency: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for worker in 0..<concurrency {
                tasks.addTask {
                    for _ in stride(from: worker, to: count, by: concurrency) {
                        let response = await gateway.handle(request)
                        guard response.status == .paymentRequired else {
                            Console.error("bench: a 402 of the run answered \(response.status.code): \(String(decoding: response.body.prefix(300), as: UTF8.self))")
                            throw ExitCode.failure
                        }
                    }
                }
            }
            try await tasks.waitForAll()
        }
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

    static func - (after: ProcessCPU, before: ProcessCPU) -> ProcessCPU {
        ProcessCPU(user: after.user - before.user, system: after.system - before.system)
    }
}
