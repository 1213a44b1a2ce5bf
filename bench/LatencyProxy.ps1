# Runs in a fresh 'pwsh -NoProfile' started by bench/Bench.ps1 (scenario Latency): two FaultProxy instances of the test
# bed, one in front of each registry, each holding every request -LatencyMs before it forwards it (a far registry). They
# run in a process of their own so that neither client shares a thread pool, a GC or a JIT with them.
# Prints one JSON line with their addresses, then answers commands on stdin, one a line:
#   take [FILE]  one JSON line: per proxy, the requests it saw since the last take (in all and by method and endpoint) and
#                the connections it accepted; with FILE, the log lines themselves are appended to it. The logs are then
#                cleared. The bench takes only between copies, when no request is in flight.
#   quit         stops the proxies and exits (so does the end of stdin).
param(
    [Parameter(Mandatory)] [string] $TestBedPath,
    [Parameter(Mandatory)] [string] $Source,
    [Parameter(Mandatory)] [string] $Destination,
    [Parameter(Mandatory)] [int] $LatencyMs
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
Add-Type -Path $TestBedPath

$proxies = [ordered]@{}
$connections = @{}
try {
    foreach ($side in @(@('Source', $Source), @('Destination', $Destination))) {
        $proxy = [MobyDistribution.TestBed.FaultProxy]::Start($side[1])
        $proxy.Latency = [TimeSpan]::FromMilliseconds($LatencyMs)
        $proxies[$side[0]] = $proxy
        $connections[$side[0]] = 0
    }
    [Console]::Out.WriteLine(([pscustomobject]@{ Source = $proxies.Source.HostPort; Destination = $proxies.Destination.HostPort } | ConvertTo-Json -Compress))
    while ($null -ne ($line = [Console]::In.ReadLine())) {
        $command, $file = $line.Trim() -split ' ', 2
        if ($command -eq 'quit') { break }
        if ($command -ne 'take') { [Console]::Out.WriteLine((@{ Error = "unknown command '$command'" } | ConvertTo-Json -Compress)); continue }
        $answer = [ordered]@{}
        foreach ($name in $proxies.Keys) {
            $proxy = $proxies[$name]
            $log = $proxy.Log
            $counts = $proxy.RequestCounts()
            $proxy.ClearLog()
            $accepted = $proxy.ConnectionsAccepted
            $answer[$name] = [ordered]@{
                Requests    = $log.Length
                Connections = $accepted - $connections[$name]
                Counts      = [ordered]@{}
            }
            foreach ($kv in $counts.GetEnumerator()) { $answer[$name].Counts[$kv.Key] = $kv.Value }
            $connections[$name] = $accepted
            if ($file) { Add-Content -Path $file -Value (@("## $name") + @($log | ForEach-Object { $_.ToString() })) }
        }
        [Console]::Out.WriteLine(($answer | ConvertTo-Json -Compress -Depth 4))
    }
} finally {
    foreach ($proxy in $proxies.Values) { $proxy.Dispose() }
}
