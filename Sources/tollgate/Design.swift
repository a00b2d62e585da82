import ArgumentParser
import Foundation
import TollgateConfiguration
import TollgateDesign

/// `tollgate design`: explain the design a configuration implies (docs/design.md).
struct Design: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain the design a configuration implies: the flow of a request, who checks what, rate limits, anti-patterns, open decisions.")

    @Option(name: .shortAndLong, help: "The configuration file (YAML).")
    var config: String

    @Option(help: "markdown (default), json or html (one self-contained page).")
    var format: String = DesignFormat.markdown.rawValue

    @Option(name: .shortAndLong, help: "Write the report to this file instead of standard output.")
    var output: String?

    func validate() throws {
        guard DesignFormat(rawValue: format) != nil else {
            throw ValidationError("--format must be one of: \(DesignFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        let configuration = try ConfigurationFile.load(config)
        let text = (DesignFormat(rawValue: format) ?? .markdown).render(DesignReport(configuration: configuration, source: config))
        guard let output else {
            print(text, terminator: "")
            return
        }
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: output))
        } catch {
            Console.error("cannot write \(output): \(error)")
            throw ExitCode(1)
        }
    }
}
