import ArgumentParser
import Foundation
import TollgateConfiguration
import TollgateCore

/// `tollgate audit index-archives`: records which flows, payers, transactions and nonces each archive file names, for
/// the ranges archived before the store kept that index, so `trace`, `dispute open` and `dispute evidence` read only
/// the files that hold what they look for. Ranges archived since are indexed as they are archived.
struct AuditIndexArchives: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index-archives",
        abstract: "Index the archive files of ranges archived without an index, so support reads only the files that hold a flow.")

    @OptionGroup var options: SupportStoreOptions

    @Option(help: "The archive directory (default: the configuration's audit.archive_dir).")
    var archives: String?

    func run() async throws {
        let (configuration, store) = try await options.load(requireKeys: false)
        guard let directory = archives ?? configuration.auditRetention?.archiveDirectory else {
            Console.error("\(options.config): audit.archive_dir is not set: name the archive directory with --archives DIR")
            throw ExitCode(2)
        }
        let done = try await store.indexAuditArchives(directory: directory)
        var failed = 0
        for range in done {
            let name = "seq \(range.record.firstSeq)…\(range.record.lastSeq) (\(range.record.file))"
            switch range.outcome {
            case .success(let keys):
                print("indexed \(name): \(keys) lookup keys")
            case .failure(let error):
                failed += 1
                Console.error("not indexed \(name): \(error.message); it stays read for every lookup")
            }
        }
        if done.isEmpty { print("every archived range is indexed") }
        if failed > 0 { throw ExitCode(1) }
    }
}
