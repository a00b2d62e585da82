import ArgumentParser
import Foundation
import TollgateConfiguration
import TollgateCore

/// `tollgate dispute …`: disputes of flows and their evidence bundles, straight on the store.
struct Dispute: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open, list and close disputes of flows; export a flow's evidence bundle.",
        subcommands: [Open.self, List.self, Close.self, Evidence.self])

    struct Open: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a dispute of one flow (audited); one open dispute per flow.")
        @Argument(help: "The disputed flow's correlation id (tg_…).") var correlationId: String
        @Option(help: "What the customer says happened.") var reason: String
        @Option(help: "Who opens it (default: cli:<user>).") var actor: String?
        @OptionGroup var archive: ArchiveOptions
        @OptionGroup var store: SupportStoreOptions

        func validate() throws { try SupportStoreOptions.checkCorrelationId(correlationId) }

        func run() async throws {
            let (configuration, database) = try await store.load()
            let flow = correlationId.lowercased(), actor = actor ?? SupportStoreOptions.defaultActor
            let record = try await SupportStoreOptions.refusals {
                do {
                    return try await database.openDispute(correlationId: flow, reason: reason, actor: actor, nowMillis: SystemClock().nowMillis())
                } catch let error as TollgateError where error.code == .unknownFlow {
                    // Retention may have moved every event of the flow to the audit archive: it is disputed all the same.
                    guard let directory = archive.directory(configuration),
                          let identity = FlowIdentity(try await database.events(correlationIds: [flow], archives: directory).events[flow] ?? [])
                    else { throw error }
                    return try await database.openDispute(correlationId: flow, reason: reason, actor: actor, nowMillis: SystemClock().nowMillis(),
                                                          archived: identity)
                }
            }
            print("opened dispute \(record.id) for flow \(record.correlationId)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disputes, newest first.")
        @Option(help: "Only disputes in this state: open or closed.") var state: String?
        @Option(help: "At most this many.") var limit = 100
        @Flag(help: "Print JSON instead of a table.") var json = false
        @OptionGroup var store: SupportStoreOptions

        func validate() throws {
            if let state, DisputeRecord.State(rawValue: state) == nil { throw ValidationError("--state must be open or closed") }
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 10000") }
        }

        func run() async throws {
            let records = try await store.open().disputes(state: state.flatMap(DisputeRecord.State.init(rawValue:)), limit: limit)
            if json {
                print(try Trace.encoded(records.map(EvidenceBundle.Dispute.init)))
                return
            }
            guard !records.isEmpty else { return print("no disputes\(state.map { " \($0)" } ?? "")") }
            var rows = [["id", "state", "flow", "opened", "actor", "reason"]]
            for record in records {
                rows.append([record.id, record.state.rawValue, record.correlationId, RFC3339.format(millis: record.openedAtMillis, fractional: false),
                             record.actor, record.reason + (record.resolution.map { " → \($0)" } ?? "")])
            }
            for line in TextTable.lines(rows) { print(line) }
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close an open dispute with its resolution (audited).")
        @Argument(help: "The dispute id (dp_…).") var id: String
        @Option(help: "How it was resolved.") var resolution: String
        @Option(help: "Who closes it (default: cli:<user>).") var actor: String?
        @OptionGroup var store: SupportStoreOptions

        func validate() throws {
            guard DisputeRecord.isId(id.lowercased()) else { throw ValidationError("'\(id)' is not a dispute id (dp_ + 16 hex)") }
        }

        func run() async throws {
            let record = try await SupportStoreOptions.refusals {
                try await store.open().closeDispute(id: id.lowercased(), resolution: resolution,
                                                    actor: actor ?? SupportStoreOptions.defaultActor, nowMillis: SystemClock().nowMillis())
            }
            print("closed dispute \(record.id) of flow \(record.correlationId)")
        }
    }

    struct Evidence: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write one JSON document with everything about a flow: offer, payload, verification, settlement, delivery, audit chain.",
            discussion: "The export itself is audited (stage dispute, outcome ok). See docs/support.md for the fields.")
        @Argument(help: "A dispute id (dp_…) or a flow's correlation id (tg_…).") var target: String
        @Option(name: .shortAndLong, help: "Write the bundle to this file (default: standard output).") var output: String?
        @Option(help: "Who exports it (default: cli:<user>).") var actor: String?
        @OptionGroup var archive: ArchiveOptions
        @OptionGroup var store: SupportStoreOptions

        func validate() throws {
            guard DisputeRecord.isId(target.lowercased()) || TraceKey.isCorrelationId(target.lowercased()) else {
                throw ValidationError("'\(target)' is neither a dispute id (dp_ + 16 hex) nor a correlation id (tg_ + 32 hex)")
            }
        }

        func run() async throws {
            let (configuration, database) = try await store.load()
            // The same key ring the gateway signs offers with; without it the bundle still exports, MACs unchecked.
            let keys: KeyRing?
            do {
                keys = try SecretResolver.keyRing(configuration.secrets)
            } catch {
                keys = nil
                FileHandle.standardError.write(Data("note: offer MACs not checked: \(error)\n".utf8))
            }
            let target = target.lowercased()
            let (bundle, identity) = try await SupportStoreOptions.refusals {
                let dispute: DisputeRecord?
                if DisputeRecord.isId(target) {
                    guard let found = try await database.dispute(id: target) else {
                        throw TollgateError(.unknownDispute, "no dispute has the id \(target)")
                    }
                    dispute = found
                } else {
                    let disputes = try await database.disputes(correlationId: target)
                    dispute = disputes.first { $0.state == .open } ?? disputes.first
                }
                let flow = dispute?.correlationId ?? target
                let directory = archive.directory(configuration)
                let (found, problems) = try await database.evidenceMaterial(correlationId: flow, archives: directory)
                for problem in problems { Console.error("note: audit archive: \(problem)") }
                guard let material = found else {
                    throw TollgateError(.unknownFlow, "no audit event carries the correlation id \(flow)"
                                        + (directory == nil ? "" : ", in the store or the audit archive"))
                }
                let bundle = try EvidenceBundle.assemble(material, dispute: dispute, offers: keys.map(OfferSigner.init(keys:)),
                                                         auditKeys: keys?.auditKeys(), archiveProblems: problems,
                                                         generatedAtMillis: SystemClock().nowMillis())
                return (bundle, FlowIdentity(material.events.map(\.record)))
            }
            let bytes = try bundle.encoded(pretty: true) + Array("\n".utf8)
            // No bundle leaves without its export in the audit log: written aside first, recorded, then put in place (or
            // recorded, then printed); a store that cannot record it stops the export.
            let staged = output.map { $0 + ".partial" }
            if let staged {
                do {
                    try Data(bytes).write(to: URL(fileURLWithPath: staged), options: .atomic)
                } catch {
                    FileHandle.standardError.write(Data("cannot write \(staged): \(error.localizedDescription)\n".utf8))
                    throw ExitCode(1)
                }
            }
            do {
                try await database.recordEvidenceExport(correlationId: bundle.correlationId, disputeId: bundle.dispute?.id,
                                                        bundleSHA256: bundle.bundleSha256 ?? "", actor: actor ?? SupportStoreOptions.defaultActor,
                                                        nowMillis: SystemClock().nowMillis(), archived: identity)
            } catch {
                if let staged { try? FileManager.default.removeItem(atPath: staged) }
                throw error
            }
            if let output, let staged {
                // rename(2): the bundle appears whole, replacing any earlier file.
                guard rename(staged, output) == 0 else {
                    Console.error("cannot write \(output) (the export is recorded; the bundle is in \(staged)): \(String(cString: strerror(errno)))")
                    throw ExitCode(1)
                }
            } else {
                FileHandle.standardOutput.write(Data(bytes))
            }
            let chain = bundle.auditChainIntact ? "audit chain intact" : "AUDIT CHAIN NOT INTACT (see notes)"
            FileHandle.standardError.write(Data(("evidence for \(bundle.correlationId)\(output.map { " written to \($0)" } ?? ""): "
                                                 + "\(bundle.auditChain.count) events, \(chain), bundleSha256 \(bundle.bundleSha256 ?? "")\n").utf8))
        }
    }
}

/// `--archives DIR` / `--no-archives`: where the support commands read the events audit retention moved out of the store.
struct ArchiveOptions: ParsableArguments {
    @Option(help: "Read archived events from this directory too (default: the configuration's audit.archive_dir).")
    var archives: String?

    @Flag(help: "Read the store only, not the audit archive.")
    var noArchives = false

    func validate() throws {
        if archives != nil, noArchives { throw ValidationError("--archives and --no-archives exclude each other") }
    }

    /// The archive directory to read, if any.
    func directory(_ configuration: GatewayConfiguration) -> String? {
        noArchives ? nil : archives ?? configuration.auditRetention?.archiveDirectory
    }
}

/// `-c FILE`: the configuration whose store the support and audit commands (dispute, trace, audit) read and write.
struct SupportStoreOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The gateway's configuration file (to find its store).")
    var config: String

    func load(requireKeys: Bool = true) async throws -> (GatewayConfiguration, any GatewayStore) {
        let configuration = try ConfigurationFile.load(config)
        return (configuration, try await ConfigurationFile.openStore(configuration, requireKeys: requireKeys))
    }

    /// The store; `requireKeys: false` for commands that only read.
    func open(requireKeys: Bool = true) async throws -> any GatewayStore { try await load(requireKeys: requireKeys).1 }

    static var defaultActor: String {
        let environment = ProcessInfo.processInfo.environment
        let user = [environment["USER"], environment["LOGNAME"], ProcessInfo.processInfo.userName].compactMap { $0 }.first { !$0.isEmpty }
        return "cli:" + (user ?? "unknown")
    }

    static func checkCorrelationId(_ text: String) throws {
        guard TraceKey.isCorrelationId(text.lowercased()) else {
            throw ValidationError("'\(text)' is not a correlation id (tg_ + 32 hex, the Tollgate-Correlation-Id header)")
        }
    }

    /// Runs `body`; a `TollgateError` becomes its message on stderr and exit code 1.
    static func refusals<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as TollgateError {
            Console.error(error.message)
            throw ExitCode(1)
        }
    }
}
