import Foundation
import Testing
import TollgateDesign

/// The interview of `tollgate init` against a scripted console: one question at a time, defaults in
/// brackets, a refused answer asked again with its reason.
@Suite struct InitInterviewTests {
    final class ScriptedConsole: InitConsole {
        var lines: [String]
        var output = ""

        init(_ lines: [String]) { self.lines = lines }

        func write(_ text: String) { output += text }

        func readLine() -> String? {
            guard !lines.isEmpty else { return nil }
            output += lines[0] + "\n"
            return lines.removeFirst()
        }
    }

    /// Every answer of an agent-only dataset API; empty lines take the default.
    static let datasetSession = [
        "datasets", "http://127.0.0.1:8403", "", "Daily market datasets", "", "",      // 1
        "agent", "",                                                                 // 2
        "", "0.01", "", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "",               // 3
        "", "", "",                                                                  // 4
        "", "", "", "",                                                              // 5 (no quota: nobody is identified)
        "",                                                                          // 6
        "", "", "", "", "", "",                                                      // 7
    ]

    @Test func aSessionOfDefaultsPlansTheDatasetAPI() throws {
        let console = ScriptedConsole(Self.datasetSession)
        let answers = try InitInterview().run(InitAnswers(), console: console)
        #expect(console.lines.isEmpty, "unanswered: \(console.lines)")
        let plan = try InitPlan(answers)
        #expect(plan.resource == "datasets" && plan.paths == ["/datasets/*"] && plan.identities == [.anonymous])
        #expect(plan.price == "0.01" && plan.admin != nil && plan.facilitators == ["http://127.0.0.1:8404"])
        for heading in ["1/7 What is protected?", "2/7 Who sends requests?", "3/7 What is billed?", "4/7 Which roles and permissions exist?",
                        "5/7 Which limits apply?", "6/7 What must the audit log keep?", "7/7 Which failures and refunds must be handled?"] {
            #expect(console.output.contains(heading))
        }
        #expect(console.output.contains("[/datasets/*]: ") && console.output.contains("[20/40]: "))
        #expect(!console.output.contains("Quota:"), "a quota needs identified callers")
    }

    @Test func aBadAnswerIsAskedAgainWithTheReason() throws {
        var session = Self.datasetSession
        session.insert("0x12", at: 11)                    // pay to: too short
        session.insert("-5", at: 9)                       // price: negative
        session.insert("kilogram", at: 8)                 // unit: unknown
        let console = ScriptedConsole(session)
        let answers = try InitInterview().run(InitAnswers(), console: console)
        #expect(answers.billing.payTo == "0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
        #expect(console.output.contains("! unknown unit \"kilogram\" (expected request, record, file, second, minute, package). Please answer again."))
        #expect(console.output.contains("! the price must be positive (got -5)"))
        #expect(console.output.contains("! \"0x12\" is not an address: 0x followed by 40 hex digits"))
        #expect(console.output.components(separatedBy: "Pay to:").count == 3)
    }

    @Test func anAnswerAtOddsWithAnEarlierOneIsAskedAgain() throws {
        var session = Self.datasetSession
        session.insert("package", at: 8)                  // anonymous payers cannot buy a package
        let console = ScriptedConsole(session)
        let answers = try InitInterview().run(InitAnswers(), console: console)
        #expect(answers.billing.unit == "request")
        #expect(console.output.contains("! a package is a prepaid balance of an identified client"))
    }

    @Test func aRequiredAnswerCannotBeSkipped() throws {
        var session = Self.datasetSession
        session.insert("", at: 0)
        let console = ScriptedConsole(session)
        _ = try InitInterview().run(InitAnswers(), console: console)
        #expect(console.output.contains("  ! an answer is required here."))
    }

    @Test func givenAnswersAreTheDefaults() throws {
        var given = InitAnswers()
        given.resource.name = "reports"
        given.billing.price = "0.25"
        let console = ScriptedConsole([])
        #expect(throws: InitAnswerError.self) { try InitInterview().run(given, console: console) }
        #expect(console.output.contains("e.g. datasets [reports]: "))
    }

    @Test func theEndOfInputStopsWithoutAnswers() {
        let console = ScriptedConsole(["datasets"])
        do {
            _ = try InitInterview().run(InitAnswers(), console: console)
            Issue.record("the interview went on without input")
        } catch {
            #expect(error.code == .aborted && error.field == "resource.upstream")
        }
    }

    @Test func apiClientsAreAskedForTheirScopes() throws {
        let session = [
            "reports", "http://127.0.0.1:8403", "", "", "", "",                          // 1
            "script", "", "reporting, ci",                                               // 2: API keys, two clients
            "", "0.01", "", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "",               // 3
            "reports:read", "reports:read", "", "", "", "none",                          // 4: scopes, scope, actions, private, per client
            "", "", "", "", "",                                                          // 5: the quota is asked (identified callers)
            "",                                                                          // 6
            "", "", "", "", "", "",                                                      // 7
        ]
        let console = ScriptedConsole(session)
        let answers = try InitInterview().run(InitAnswers(), console: console)
        #expect(console.lines.isEmpty, "unanswered: \(console.lines)")
        #expect(console.output.contains("Scopes held by API client reporting (comma-separated, or none) [reports:read]: "))
        let plan = try InitPlan(answers)
        #expect(plan.identities == [.apiKeys] && plan.scope == "reports:read")
        #expect(plan.clients.map(\.id) == ["reporting", "ci"] && plan.clients.map(\.scopes) == [["reports:read"], []])
        #expect(plan.spendCap == nil && plan.quota == nil)
    }
}
