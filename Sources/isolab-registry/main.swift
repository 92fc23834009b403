import LabCommands

// `isolab image pull|push`, with the registry client linked in: the same
// command line as `isolab`, which execs this helper for those two commands
// (see RegistryCommands in LabCommands).
RegistryCommands.pull = { try await RegistryRun.pull($0) }
RegistryCommands.push = { try await RegistryRun.push($0) }
await IsolabCommand.start()
