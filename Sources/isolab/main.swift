import LabCommands

await IsolabCommand.start()
