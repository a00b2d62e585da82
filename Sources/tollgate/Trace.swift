import ArgumentParser
import Foundation
import TollgateCore
import TollgateHTTP
import TollgateSQLite

struct Trace: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show every recorded step of one flow and where it stopped.")

    @Argument(help: "The correlation id (the Tollgate-Correlation-Id response header).")
    var correlationId: String

    @Option(name: .shortAndLong, help: "The gateway's configuration file (to find its store).")
    var config: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        let configuration = try ConfigurationFile.load(config)
        let store = try ConfigurationFile.openStore(configuration)
        let events = try await store.events(correlationId: correlationId)
        let report = TraceReport(correlationId: correlationId, recorded: events)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.table())
        }
        if events.isEmpty { throw ExitCode(1) }
    }
}

/// The timeline of one flow, for people (`table()`) and tools (JSON).
struct TraceReport: Encodable {
    struct Step: Encodable {
        var seq: Int64
        var time: String
        var stage: String
        var outcome: String
        var reason: String?
        var client: String?
        var resource: String?
        var details: [String: String]
        var hash: String
    }

    struct Stop: Encodable {
        var stage: String
        var outcome: String
        var reason: String?
        var summary: String
    }

    var correlationId: String
    var events: [Step]
    var stoppedAt: Stop?

    init(correlationId: String, recorded: [RecordedAuditEvent]) {
        self.correlationId = correlationId
        events = recorded.map { record in
            let event = record.event
            return Step(seq: record.seq, time: ISO8601.format(millis: event.timeMillis), stage: event.stage.rawValue,
                        outcome: event.outcome.rawValue, reason: event.reason, client: event.clientId, resource: event.resource,
                        details: event.details, hash: record.hash)
        }
        stoppedAt = recorded.last.map { last in
            let event = last.event
            return Stop(stage: event.stage.rawValue, outcome: event.outcome.rawValue, reason: event.reason,
                        summary: Self.summary(event))
        }
    }

    static func summary(_ event: AuditEvent) -> String {
        switch (event.stage, event.outcome) {
        case (.respond, .ok): "delivered and settled (\(event.details["status"] ?? "?"))"
        case (.offer, .issued): event.reason == Reason.paymentRequired.rawValue
            ? "402 issued: waiting for the client to pay"
            : "payment refused (\(event.reason ?? "?")); a fresh 402 was issued"
        case (_, .denied): "denied at \(event.stage): \(event.reason ?? "?")"
        case (_, .error): "failed at \(event.stage): \(event.reason ?? "?")"
        default: "last step: \(event.stage) \(event.outcome.rawValue)"
        }
    }

    /// Long hex values (nonces, hashes, proof keys) shortened for the table; `--json` keeps them whole.
    static func abbreviated(_ value: String) -> String {
        value.count > 24 && !value.contains(" ") ? "\(value.prefix(12))…\(value.suffix(6))" : value
    }

    func table() -> String {
        guard !events.isEmpty else { return "no events recorded for \(correlationId)" }
        var lines = ["flow \(correlationId)", ""]
        let header = ["#", "time", "stage", "outcome", "reason", "details"]
        var rows = [header]
        for step in events {
            let details = step.details.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.abbreviated($0.value))" }.joined(separator: " ")
            rows.append([String(step.seq), step.time, step.stage, step.outcome, step.reason ?? "", details])
        }
        let widths = (0..<5).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            lines.append((0..<5).map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ") + "  " + row[5])
        }
        if let stop = stoppedAt { lines += ["", "stopped at: \(stop.summary)"] }
        return lines.joined(separator: "\n")
    }
}
