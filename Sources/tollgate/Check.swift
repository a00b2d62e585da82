import ArgumentParser
import Foundation
import TollgateConfiguration
import TollgateCore
import TollgateDesign

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a configuration file and report every problem with its line, then lint it (docs/lint.md).",
        discussion: "Exits 2 when the file cannot be loaded, 1 when a lint rule reports an error (with --strict, a warning too), 0 otherwise.")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Option(name: .shortAndLong, help: "The configuration file (YAML).")
    var config: String

    @Flag(help: "Fail on warnings as well as errors.")
    var strict = false

    @Flag(help: "Print why each finding matters.")
    var why = false

    @Option(help: "Output format: text or json.")
    var format: Format = .text

    func run() throws {
        let configuration = try ConfigurationFile.load(config)
        let paid = configuration.routes.filter { $0.pricing != nil }.count
        var notes: [String] = []
        if case .failure(let error) = Result(catching: { try SecretResolver.keyRing(configuration.secrets) }) {
            notes.append("\(error) (needed by serve, not by check)")
        }
        if let admin = configuration.admin, case .failure(let error) = Result(catching: { try SecretResolver.adminToken(admin.token) }) {
            notes.append("\(error) (needed by serve, not by check)")
        }
        let findings = ConfigurationLint.run(configuration)
        let failed = findings.contains { $0.severity == .error || (strict && $0.severity == .warning) }
        switch format {
        case .json:
            let report = CheckReport(file: config, ok: !failed, routes: configuration.routes.count, paidRoutes: paid,
                                     clients: configuration.clients.count, facilitators: configuration.facilitators.count,
                                     notes: notes, findings: findings, counts: Self.counts(findings))
            print(try Trace.encoded(report))
        case .text:
            print("\(config): OK — \(configuration.routes.count) route(s), \(paid) paid, \(configuration.clients.count) client(s), "
                  + "\(configuration.facilitators.count) facilitator(s)")
            print("store: \(Self.store(configuration))")
            for note in notes { print("note: \(note)") }
            printFindings(findings)
        }
        if failed { throw ExitCode(1) }
    }

    private func printFindings(_ findings: [LintFinding]) {
        for severity in LintSeverity.allCases.reversed() {
            let group = findings.filter { $0.severity == severity }
            guard !group.isEmpty else { continue }
            print("\n\(Self.plural(severity, group.count)):")
            for finding in group {
                let place = finding.line.map { "line \($0)" } ?? "file"
                print("\(place): \(finding.rule) \(finding.severity.rawValue): \(finding.message) — fix: \(finding.fix)")
                if why { print("    why: \(finding.why)") }
            }
        }
        let counts = Self.counts(findings)
        let summary = findings.isEmpty ? "no findings (\(ConfigurationLint.rules.count) rules)"
            : LintSeverity.allCases.reversed().map { Self.plural($0, counts[$0.rawValue] ?? 0) }.joined(separator: ", ")
        let verdict = findings.contains { $0.severity == .error } ? "FAILED" : strict && counts["warning", default: 0] > 0 ? "FAILED (strict)" : "passed"
        print("\nlint \(verdict): \(summary); every rule is in docs/lint.md\(why || findings.isEmpty ? "" : ", --why explains each finding")")
    }

    /// Which store the configuration names, as `serve` will open it (never the password).
    static func store(_ configuration: GatewayConfiguration) -> String {
        guard let postgres = configuration.postgres else { return "SQLite \(configuration.sqlitePath)" }
        let shared = configuration.limits.sharedInvalid ? ", invalid-proof budget shared" : ""
        return "PostgreSQL \(postgres.host):\(postgres.port)/\(postgres.database) as \(postgres.user), TLS \(postgres.tls.rawValue), "
            + "pool \(postgres.poolSize), migrations \(postgres.migrateOnStart ? "at start-up" : "by `tollgate migrate` only")\(shared)"
    }

    static func counts(_ findings: [LintFinding]) -> [String: Int] {
        Dictionary(grouping: findings, by: \.severity.rawValue).mapValues(\.count)
    }

    static func plural(_ severity: LintSeverity, _ count: Int) -> String {
        switch severity {
        case .info: "\(count) info"
        case .warning, .error: "\(count) \(severity.rawValue)\(count == 1 ? "" : "s")"
        }
    }
}

/// `tollgate check --format json`.
struct CheckReport: Encodable {
    var file: String
    /// False when an error (or, with --strict, a warning) was found: the exit status is then 1.
    var ok: Bool
    var routes: Int
    var paidRoutes: Int
    var clients: Int
    var facilitators: Int
    var notes: [String]
    var findings: [LintFinding]
    /// Findings per severity.
    var counts: [String: Int]
}

struct HashKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-key", abstract: "Print the SHA-256 of an API key, for clients[].api_key_sha256.")

    @Argument(help: "The API key (or - to read it from standard input).")
    var key: String

    func run() throws {
        let text = key == "-" ? (readLine(strippingNewline: true) ?? "") : key
        print(APIKeyHash.sha256Hex(text))
    }
}
