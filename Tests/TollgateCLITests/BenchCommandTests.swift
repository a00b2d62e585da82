import Foundation
import Testing

/// `tollgate bench --mode journey`: the gateway's own 402 measured in process, on the configuration given and never on
/// its store.
@Suite struct BenchCommandTests {
    @Test func theJourneyBenchMeasuresA402WithoutTouchingTheConfiguredStore() async throws {
        let fixture = try await GatewayFixture()
        defer { fixture.remove() }
        let before = try Self.files(in: fixture.directory)

        let run = await CommandRun.tollgate("bench", "--mode", "journey", "--config", fixture.config, "--path", "/datasets/prices",
                                            "--requests", "300", "--concurrency", "4")
        #expect(run.status == 0, "\(run.output)\(run.error)")
        #expect(run.output.contains("in process, 300 402s of /datasets/prices, 4 at a time"), "\(run.output)")
        #expect(try Self.micros(in: run.output, line: "CPU per 402") > 0)
        // Its own scratch store: nothing in the configured one's directory (database, WAL) was written.
        #expect(try Self.files(in: fixture.directory) == before)
    }

    /// The figure (µs) of the output's line that starts with `prefix`.
    static func micros(in output: String, line prefix: String) throws -> Double {
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix(prefix) }, "\(output)")
        return try #require(Double(line.split(separator: " ").first { Double($0) != nil } ?? ""), "\(line)")
    }

    /// Each file's name, size and modification time.
    static func files(in directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted().map { name in
            let attributes = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)
            return "\(name) \(attributes[.size] ?? 0) \(attributes[.modificationDate] ?? 0)"
        }
    }

    /// With a header carrying a proof, what is measured is the 402 that refuses it (fresh terms attached); a header the
    /// gateway would not answer with a 402 (a key no client holds: 401) stops the run with what was answered.
    @Test func theJourneyBenchMeasuresTheRefusalOfAProofInAHeader() async throws {
        let fixture = try await GatewayFixture()
        defer { fixture.remove() }
        let refused = await CommandRun.tollgate("bench", "--mode", "journey", "--config", fixture.config, "--path", "/datasets/prices",
                                                "--header", "PAYMENT-SIGNATURE: bm90IGEgcGF5bWVudA==", "--requests", "200", "--concurrency", "4")
        #expect(refused.status == 0, "\(refused.output)\(refused.error)")
        #expect(refused.output.contains("in process, 200 402s of /datasets/prices with PAYMENT-SIGNATURE, 4 at a time"), "\(refused.output)")
        #expect(refused.output.contains("CPU per 402"), "\(refused.output)")

        let unknownKey = await CommandRun.tollgate("bench", "--mode", "journey", "--config", fixture.config, "--path", "/datasets/prices",
                                                   "--header", "X-Api-Key: tg_no_such_key_0123456789", "--requests", "10")
        #expect(unknownKey.status == 1)
        #expect(unknownKey.error.contains("answered 401, not 402"), "\(unknownKey.error)")
    }

    /// `--paid`: every measured request pays (a payment signed ahead for a 402 of its own) and is answered 200; the
    /// configured store is untouched here too.
    @Test func theJourneyBenchMeasuresPaidRequests() async throws {
        let fixture = try await GatewayFixture()
        defer { fixture.remove() }
        let before = try Self.files(in: fixture.directory)
        let run = await CommandRun.tollgate("bench", "--mode", "journey", "--paid", "--config", fixture.config, "--path", "/datasets/prices",
                                            "--requests", "120", "--concurrency", "4")
        #expect(run.status == 0, "\(run.output)\(run.error)")
        #expect(run.output.contains("in process, 120 paid requests of /datasets/prices, 4 at a time"), "\(run.output)")
        #expect(try Self.micros(in: run.output, line: "CPU per paid request") > 0)
        #expect(try Self.files(in: fixture.directory) == before)
    }

    @Test func theJourneyBenchRefusesAPathThatIsNotPaid() async throws {
        let fixture = try await GatewayFixture()
        defer { fixture.remove() }
        let free = await CommandRun.tollgate("bench", "--mode", "journey", "--config", fixture.config, "--path", "/nowhere", "--requests", "10")
        #expect(free.status == 1)
        #expect(free.error.contains("/nowhere answered 404, not 402"), "\(free.error)")
        let none = await CommandRun.tollgate("bench", "--mode", "journey", "--config", fixture.config, "--requests", "0")
        #expect(none.status != 0)
        #expect(none.error.contains("--requests and --concurrency must be at least 1"), "\(none.error)")
        let missing = await CommandRun.tollgate("bench", "--mode", "journey", "--requests", "10")
        #expect(missing.status != 0)
        #expect(missing.error.contains("--mode journey needs --config"), "\(missing.error)")
    }
}
