import ArgumentParser
import Foundation
import TollgateConfiguration
import TollgateDesign
import Yams

/// `tollgate init`: the seven design questions (docs/init.md), then a configuration that loads, passes
/// the lint and runs under `tollgate serve`.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Ask the seven design questions and write a working configuration (docs/init.md).",
        discussion: """
            On a terminal the questions are asked one at a time, each with its default in [brackets]. With --answers \
            (YAML or JSON), flags or --set FIELD=VALUE the same answers can be given ahead; when standard input is not \
            a terminal, or with --non-interactive, nothing is asked and missing required answers are listed (exit 2). \
            API keys are generated for API clients and printed once; only their SHA-256 is written.
            """)

    @Option(name: .shortAndLong, help: "The configuration file to write.")
    var output = "tollgate.yaml"

    @Flag(help: "Overwrite the output file if it exists.")
    var force = false

    @Option(help: "An answers file (YAML or JSON, the fields of docs/init.md); its answers become the defaults.")
    var answers: String?

    @Flag(help: "Never ask: take the answers from --answers, the flags and the defaults (also when stdin is not a terminal).")
    var nonInteractive = false

    @Option(help: "Also write the answers given to this file (an --answers file for the next run).")
    var saveAnswers: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Any answer by its field path, e.g. billing.quantity=query:limit (repeatable).",
                                                        valueName: "FIELD=VALUE"))
    var settings: [String] = []

    @OptionGroup(title: "1. What is protected") var resource: ResourceFlags
    @OptionGroup(title: "2. Who sends requests") var callers: CallerFlags
    @OptionGroup(title: "3. What is billed") var billing: BillingFlags
    @OptionGroup(title: "4.-7. Permissions, limits, audit, failures") var operations: OperationFlags

    func run() throws {
        if FileManager.default.fileExists(atPath: output) && !force {
            Self.fail("\(output) exists; refusing to overwrite it (use --force, or --output another file)", code: 1)
        }
        var given = loadAnswers()
        given = applyFlags(to: given)
        let interactive = !nonInteractive && isatty(STDIN_FILENO) == 1
        if interactive {
            do {
                given = try InitInterview().run(given, console: TerminalConsole())
            } catch {
                Self.fail(error.message, code: 1)
            }
        }
        let plan: InitPlan
        do {
            plan = try InitPlan(given)
        } catch {
            Self.reportProblems(error, interactive: interactive)
        }
        let generated = InitGenerator().generate(plan)
        let findings = verify(generated.yaml)
        do {
            try generated.yaml.write(toFile: output, atomically: true, encoding: .utf8)
            if let saveAnswers { try YAMLEncoder().encode(given).write(toFile: saveAnswers, atomically: true, encoding: .utf8) }
        } catch {
            Self.fail("cannot write \(output): \(error.localizedDescription)", code: 1)
        }
        summarize(plan, generated, findings)
    }

    private func loadAnswers() -> InitAnswers {
        guard let answers else { return InitAnswers() }
        do {
            return try InitAnswersFile.load(path: answers)
        } catch {
            Self.fail("\(answers): \(error.problems.count) problem(s):\n\(error)", code: 2)
        }
    }

    /// The flags, then every --set, in order; every refused value is reported at once.
    private func applyFlags(to answers: InitAnswers) -> InitAnswers {
        var pairs: [(InitField, String)] = resource.pairs + callers.pairs + billing.pairs + operations.pairs
        var problems: [InitAnswerError] = []
        for setting in settings {
            let parts = setting.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let field = InitField(rawValue: parts[0].trimmingCharacters(in: .whitespaces)) else {
                problems.append(.invalid("--set", "\"\(setting)\" is not FIELD=VALUE with a known field (\(InitField.allCases.map(\.rawValue).joined(separator: ", ")))"))
                continue
            }
            pairs.append((field, parts[1]))
        }
        var result = answers
        for (field, text) in pairs {
            do throws(InitAnswerError) {
                try field.apply(text, to: &result)
            } catch {
                problems.append(error)
            }
        }
        if !problems.isEmpty { Self.fail("refused answer(s):\n\(InitAnswersError(problems))", code: 2) }
        return result
    }

    /// The generated text must load and pass the lint with no error before anything is written.
    private func verify(_ yaml: String) -> [LintFinding] {
        let configuration: GatewayConfiguration
        switch Result(catching: { () throws(ConfigurationError) in try ConfigurationLoader.parse(yaml, file: output).0 }) {
        case .success(let loaded): configuration = loaded
        case .failure(let error): Self.fail("the generated configuration does not load (a bug in tollgate init); nothing was written:\n\(error)", code: 1)
        }
        let findings = ConfigurationLint.run(configuration)
        let errors = findings.filter { $0.severity == .error }
        if !errors.isEmpty {
            Self.fail("the configuration would not pass the lint; nothing was written:\n"
                      + errors.map { "  \($0.rule) \($0.path): \($0.message) (fix: \($0.fix))" }.joined(separator: "\n"), code: 1)
        }
        return findings
    }

    private func summarize(_ plan: InitPlan, _ generated: InitGenerator.Output, _ findings: [LintFinding]) {
        var text = "\nWrote \(output): \(plan.paths.count) route(s) for \(plan.resource) (\(plan.method == "*" ? "any method" : plan.method) "
            + "\(plan.paths.joined(separator: ", "))) in front of \(plan.upstream)\n"
            + "  billed:       \(InitSummary.price(plan))\n"
            + "  callers:      \(plan.callers.map(\.rawValue).joined(separator: ", ")), identified by \(InitSummary.identities(plan))\n"
            + "  facilitators: \(plan.facilitators.joined(separator: " -> "))\n"
        if let admin = plan.admin { text += "  admin API:    \(admin.listen)\n" }
        if !generated.keys.isEmpty {
            text += "\nAPI keys (shown ONCE: only their SHA-256 is in \(output)):\n"
            for key in generated.keys { text += "  \(key.client): \(key.key)\n" }
            text += "WARNING: store these keys now (a secret manager, the client's environment). They are not written anywhere\n"
                + "and cannot be shown again; to replace one, put the `tollgate hash-key NEWKEY` of a new key in clients[].api_key_sha256.\n"
        }
        if let jwt = plan.jwt, !FileManager.default.fileExists(atPath: jwt.jwksFile) {
            text += "\nnote: \(jwt.jwksFile) does not exist yet: `tollgate serve` needs the identity provider's JWKS there.\n"
        }
        let notes = findings.filter { $0.severity != .error }
        if !notes.isEmpty {
            text += "\nLint notes (no errors):\n" + notes.map { "  \($0.rule) \($0.severity.rawValue): \($0.message)\n" }.joined()
        }
        text += "\nNext:\n" + plan.environment.map { "  export \($0)=$(openssl rand -hex 32)\n" }.joined()
            + "  tollgate check -c \(output)\n  tollgate design -c \(output)\n  tollgate serve -c \(output)\n"
        if plan.facilitators.contains(where: { $0.hasPrefix("http://127.0.0.1:8404") }) {
            text += "  (development: `tollgate facilitator --dev --listen 127.0.0.1:8404` runs the local facilitator)\n"
        }
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    private static func reportProblems(_ error: InitAnswersError, interactive: Bool) -> Never {
        let missing = error.missing
        var text = ""
        if !missing.isEmpty {
            text += "\(missing.count) required answer(s) missing\(interactive ? "" : " (non-interactive: nothing is asked)"):\n"
            let width = missing.map(\.field.count).max() ?? 0
            for problem in missing {
                let flag = InitField(rawValue: problem.field)?.flag.map { "  [\($0)]" } ?? ""
                text += "  \(problem.field.padding(toLength: width, withPad: " ", startingAt: 0))  \(problem.message)\(flag)\n"
            }
            text += "Give them as flags, with --set FIELD=VALUE, or in an --answers file (docs/init.md).\n"
        }
        let others = error.problems.filter { $0.code != .missing }
        if !others.isEmpty { text += "refused answer(s):\n" + others.map { "  \($0)\n" }.joined() }
        fail(text.trimmingCharacters(in: .newlines), code: 2)
    }

    private static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("tollgate init: \(message)\n".utf8))
        Foundation.exit(code)
    }
}

/// The interview's terminal: questions on standard output, answers from standard input.
struct TerminalConsole: InitConsole {
    func write(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
    func readLine() -> String? { Swift.readLine(strippingNewline: true) }
}

struct ResourceFlags: ParsableArguments {
    @Option(help: "The resource id (resource.name), e.g. datasets.") var resource: String?
    @Option(help: "The upstream API's base URL.") var upstream: String?
    @Option(help: "Path pattern(s), comma-separated (default /<resource>/*).") var paths: String?
    @Option(help: "Description shown in the 402 terms.") var description: String?
    @Option(help: "HTTP method the routes match, or * (default GET when read-only).") var method: String?
    @Flag(inversion: .prefixedNo, help: "Read-only (the default) or with write actions.") var readOnly: Bool?

    var pairs: [(InitField, String)] {
        given([.resourceName: resource, .upstream: upstream, .paths: paths, .description: description, .readOnly: yesNo(readOnly), .method: method])
    }
}

struct CallerFlags: ParsableArguments {
    @Option(help: "Who sends requests: human, script, agent, integration (comma-separated).") var callers: String?
    @Option(help: "How they are identified: anonymous, api_keys, jwt (default from --callers).") var identity: String?
    @Option(help: "API clients to create a key for (comma-separated ids).") var apiClients: String?
    @Option(help: "JWT issuer (iss).") var jwtIssuer: String?
    @Option(help: "JWT audience (aud).") var jwtAudience: String?
    @Option(help: "JWKS file with the identity provider's keys.") var jwksFile: String?

    var pairs: [(InitField, String)] {
        given([.callers: callers, .identities: identity, .apiClients: apiClients, .jwtIssuer: jwtIssuer, .jwtAudience: jwtAudience,
               .jwksFile: jwksFile])
    }
}

struct BillingFlags: ParsableArguments {
    @Option(help: "request, record, file, second, minute, package (default request).") var unit: String?
    @Option(help: "Price in the token, e.g. 0.01.") var price: String?
    @Option(help: "base-sepolia (default) or base.") var network: String?
    @Option(help: "The address payments go to.") var payTo: String?
    @Option(help: "Quantity from the request: query:NAME, body:PATH or none.") var quantity: String?
    @Option(help: "Most units one request may buy.") var quantityMax: String?
    @Option(help: "Units when the request does not say, or none.") var quantityDefault: String?
    @Option(help: "How records are counted: header:NAME or json_array:PATH.") var records: String?
    @Option(help: "Requests in one package (unit package).") var packageSize: String?

    var pairs: [(InitField, String)] {
        given([.unit: unit, .price: price, .network: network, .payTo: payTo, .quantity: quantity, .quantityMax: quantityMax,
               .quantityDefault: quantityDefault, .records: records, .packageSize: packageSize])
    }
}

struct OperationFlags: ParsableArguments {
    @Option(help: "Scopes that exist (comma-separated).") var scopes: String?
    @Option(help: "Scope every caller of the resource needs.") var scope: String?
    @Option(help: "Scope write actions need.") var writeScope: String?
    @Option(help: "Private response fields (comma-separated).") var privateFields: String?
    @Option(help: "Limit before payment: RATE/BURST or off.") var unpaid: String?
    @Option(help: "Limit after payment: RATE/BURST or off.") var paid: String?
    @Option(help: "Limit on invalid proofs: RATE/BURST or off.") var invalid: String?
    @Option(help: "Spend cap per spender and day, e.g. 5.00.") var spendCap: String?
    @Option(help: "Quota in units per client and day.") var quota: String?
    @Option(help: "Audit retention in days, or forever.") var retentionDays: String?
    @Option(help: "Facilitator URL(s) in failover order (comma-separated).") var facilitators: String?
    @Option(help: "after (default) or before.") var settle: String?
    @Flag(inversion: .prefixedNo, help: "The admin API on loopback (default on).") var admin: Bool?
    @Option(help: "The gateway's host:port (default 127.0.0.1:8402).") var listen: String?

    var pairs: [(InitField, String)] {
        given([.scopes: scopes, .scope: scope, .writeScope: writeScope, .privateFields: privateFields, .unpaid: unpaid, .paid: paid,
               .invalid: invalid, .spendCap: spendCap, .quota: quota, .retentionDays: retentionDays, .facilitators: facilitators,
               .settle: settle, .admin: yesNo(admin), .listen: listen])
    }
}

/// The flags that were given, in order, as answers to their fields.
private func given(_ flags: KeyValuePairs<InitField, String?>) -> [(InitField, String)] {
    flags.compactMap { field, value in value.map { (field, $0) } }
}

/// A `--flag` / `--no-flag` pair as the answer `yes` or `no`.
private func yesNo(_ flag: Bool?) -> String? {
    flag.map { $0 ? "yes" : "no" }
}
