import ArgumentParser
import Foundation
import TollgateConfiguration
import TollgateCore

struct Trace: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every recorded step of a flow, or of every flow of a payer, transaction or nonce, and where each stopped.",
        discussion: "KEY is \(TraceKey.acceptedForms). Flows linked by a refusal (a fresh offer) or a replay are shown too, one level deep.")

    @Argument(help: "A correlation id (the Tollgate-Correlation-Id response header), a payer address, or a transaction hash or proof nonce.")
    var key: String

    @OptionGroup var options: SupportStoreOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "At most this many flows for a payer, transaction or nonce (newest first).")
    var limit = 20

    @OptionGroup var archive: ArchiveOptions

    func validate() throws {
        do {
            _ = try TraceKey(parsing: key)
        } catch {
            throw ValidationError(error.message)
        }
        guard (1...1000).contains(limit) else { throw ValidationError("--limit must be between 1 and 1000") }
    }

    func run() async throws {
        let traceKey = try TraceKey(parsing: key)
        let (configuration, store) = try await options.load(requireKeys: false)
        let directory = archive.directory(configuration)
        var match = try await store.flows(matching: traceKey, limit: limit)
        var problems: [String] = []
        if let directory { problems += try await Self.addArchived(traceKey, to: &match, limit: limit, store: store, directory: directory) }
        var ids = match.correlationIds
        // A flow whose events were all archived is in no live table: asked for by its id, it is looked for there.
        if case .correlationId(let id) = traceKey, ids.isEmpty, directory != nil { ids = [id] }
        let loader = try await TraceLoader.load(ids, store: store, archives: directory)
        var noted = Set<String>()
        for problem in problems + loader.problems where noted.insert(problem).inserted { Console.error("note: audit archive: \(problem)") }
        let reports = ids.map(loader.report).filter { !$0.events.isEmpty || match.correlationIds.contains($0.correlationId) }

        if case .correlationId(let id) = traceKey {
            // The shape existing tools read: one flow, `{"correlationId", "events", "stoppedAt"}` (+ `linkedFlows`).
            let report = reports.first ?? TraceReport(correlationId: id, recorded: [])
            print(json ? try Self.encoded(report) : report.table())
            if reports.isEmpty { throw ExitCode(1) }
            return
        }
        let search = TraceSearch(key: traceKey.value, kind: traceKey.kind, matchedAs: match.matchedAs, totalFlows: match.total, flows: reports)
        if json {
            print(try Self.encoded(search))
        } else if reports.isEmpty {
            Console.error("no flow found for \(traceKey): nothing in payments, proof evidence or audit details")
        } else {
            print(search.table())
        }
        if reports.isEmpty { throw ExitCode(1) }
    }

    /// Adds the flows whose archived events name a payer, transaction or nonce and that the store's lookup did not find
    /// (a payment refused before anything was reserved, past the audit window), after the store's (they are older), up
    /// to `limit`; `matchedAs` names `audit_archive`. Returns the archive's problems.
    static func addArchived(_ key: TraceKey, to match: inout TraceMatch, limit: Int, store: any GatewayStore, directory: String) async throws -> [String] {
        let found = await AuditArchiveSearch.flows(naming: key, archives: try await store.auditArchives(holding: [key.value]), directory: directory)
        let known = Set(match.correlationIds)
        let added = found.fields.keys.filter { !known.contains($0) }.sorted()
        guard !added.isEmpty else { return found.problems }
        for field in Set(added.flatMap { found.fields[$0] ?? [] }) where !(match.matchedAs[field] ?? []).contains("audit_archive") {
            match.matchedAs[field, default: []].append("audit_archive")
        }
        match.total += added.count
        match.correlationIds += added.prefix(max(0, limit - match.correlationIds.count))
        return found.problems
    }

    /// Pretty JSON with sorted keys: the `--json` output of the support and audit commands.
    static func encoded(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// Loads flows with their linked flows (one level), from the store and the audit archive; a linked flow already listed
/// is only named.
struct TraceLoader {
    let shown: Set<String>
    private(set) var events: [String: [RecordedAuditEvent]] = [:]
    private(set) var archived: [String: Int] = [:]
    private(set) var problems: [String] = []

    /// The events of `ids` and of the flows they link to, read at once (the archive, when given, is scanned once for
    /// the flows listed and once for those they link to).
    static func load(_ ids: [String], store: any GatewayStore, archives directory: String?) async throws -> TraceLoader {
        var loader = TraceLoader(shown: Set(ids))
        try await loader.add(Set(ids), store: store, archives: directory)
        let linked = Set(ids.flatMap { FlowLink.links(in: loader.events[$0] ?? []).map(\.correlationId) }).subtracting(loader.shown)
        try await loader.add(linked, store: store, archives: directory)
        return loader
    }

    private mutating func add(_ ids: Set<String>, store: any GatewayStore, archives directory: String?) async throws {
        guard !ids.isEmpty else { return }
        let found = try await store.events(correlationIds: ids, archives: directory)
        events.merge(found.events) { $1 }
        archived.merge(found.archived) { $1 }
        problems += found.problems
    }

    func report(_ correlationId: String) -> TraceReport {
        var report = flow(correlationId)
        var linked: [TraceReport.Linked] = []
        for link in FlowLink.links(in: events[correlationId] ?? []) {
            linked.append(shown.contains(link.correlationId) ? .init(link, shownAbove: true, flow: nil)
                          : .init(link, shownAbove: nil, flow: flow(link.correlationId)))
        }
        report.linkedFlows = linked.isEmpty ? nil : linked
        return report
    }

    private func flow(_ correlationId: String) -> TraceReport {
        var report = TraceReport(correlationId: correlationId, recorded: events[correlationId] ?? [])
        if let count = archived[correlationId], count > 0 { report.archivedEvents = count }
        return report
    }
}

/// Every flow a payer, transaction or nonce leads to.
struct TraceSearch: Encodable {
    var key: String
    var kind: String
    var matchedAs: [String: [String]]
    var totalFlows: Int
    var flows: [TraceReport]

    func table() -> String {
        let matched = matchedAs.sorted { $0.key < $1.key }.map { "\($0.key) in \($0.value.joined(separator: ", "))" }.joined(separator: "; ")
        var lines = ["\(kind) \(key): \(totalFlows) flow\(totalFlows == 1 ? "" : "s") (matched \(matched)), newest first"]
        if flows.count < totalFlows { lines.append("showing \(flows.count) of \(totalFlows); use --limit for more") }
        for (index, flow) in flows.enumerated() {
            lines += ["", "── \(index + 1)/\(flows.count) " + String(repeating: "─", count: 60), flow.table()]
        }
        return lines.joined(separator: "\n")
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
        /// What the stage it stopped at decides (from the journey's list of stages), so support reads the stop in context.
        var stageMeaning: String?
    }

    /// A flow this one links to: "continued in tg_…", "continues tg_…", "proof first used in tg_…".
    struct Linked: Encodable {
        var relation: String
        var correlationId: String
        var summary: String
        /// The flow is one of those listed already.
        var shownAbove: Bool?
        var flow: TraceReport?

        init(_ link: FlowLink, shownAbove: Bool?, flow: TraceReport?) {
            relation = link.relation.rawValue
            correlationId = link.correlationId
            summary = link.summary
            self.shownAbove = shownAbove
            self.flow = flow
        }
    }

    var correlationId: String
    var events: [Step]
    var stoppedAt: Stop?
    var linkedFlows: [Linked]?
    /// How many of `events` were read from the audit archive (`audit.archive_dir`): retention deleted them from the store.
    var archivedEvents: Int?

    init(correlationId: String, recorded: [RecordedAuditEvent]) {
        self.correlationId = correlationId
        events = recorded.map { record in
            let event = record.event
            return Step(seq: record.seq, time: RFC3339.format(millis: event.timeMillis), stage: event.stage.rawValue,
                        outcome: event.outcome.rawValue, reason: event.reason, client: event.clientId, resource: event.resource,
                        details: event.details, hash: record.hash)
        }
        // Disputes and refunds come after the fact: where the payment stopped is the last step before them.
        let pipeline = recorded.filter { $0.event.stage != .dispute && $0.event.stage != .refund }
        // A delivery is where the flow ended, even when a replay of its proof was refused afterwards.
        let delivered = pipeline.last { $0.event.stage == .respond && $0.event.outcome == .ok }
        stoppedAt = (delivered ?? pipeline.last ?? recorded.last).map { stop in
            let event = stop.event
            var summary = Self.summary(event)
            if let last = pipeline.last, last.seq != stop.seq, delivered != nil {
                summary += "; afterwards: " + Self.summary(last.event)
            }
            return Stop(stage: event.stage.rawValue, outcome: event.outcome.rawValue, reason: event.reason, summary: summary,
                        stageMeaning: JourneyStage.named(event.stage).map { "\($0.id) (\($0.title)): \($0.summary)" })
        }
    }

    static func summary(_ event: AuditEvent) -> String {
        switch (event.stage, event.outcome) {
        case (.respond, .ok): event.details["settled"] == "prepaid"
            ? "delivered from the package balance (\(event.details["status"] ?? "?"))"
            : "delivered and settled (\(event.details["status"] ?? "?"))"
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
        lines += TextTable.lines(rows)
        if let archivedEvents {
            lines.append("(\(archivedEvents) of these \(events.count) events read from the audit archive: retention deleted them from the store)")
        }
        if let stop = stoppedAt {
            lines += ["", "stopped at: \(stop.summary)"]
            if let meaning = stop.stageMeaning { lines.append("  stage \(meaning)") }
        }
        for linked in linkedFlows ?? [] {
            if linked.shownAbove == true {
                lines.append("\(linked.summary) (listed above)")
            } else if let flow = linked.flow {
                lines += ["", "\(linked.summary):"] + flow.table().split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "    " + $0 }
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Rows as aligned text: every column but the last padded to its widest cell, columns two spaces apart.
enum TextTable {
    static func lines(_ rows: [[String]]) -> [String] {
        guard let columns = rows.first?.count, columns > 1 else { return rows.map { $0.joined(separator: "  ") } }
        let widths = (0..<columns - 1).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            (widths.indices.map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) } + [row[columns - 1]]).joined(separator: "  ")
        }
    }
}
