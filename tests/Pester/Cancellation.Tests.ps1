#Requires -Version 7.0
# Ctrl+C (StopProcessing) cancels the transfer under way and leaves nothing at the destination.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Large = [MobyDistribution.TestBed.FixtureImage]::CreateLargeLayer(4MB, 91)
    Publish-MobyFixture $Large $TestBed.Anonymous 'cancel/big' 'v1' | Out-Null
    # A slow path to the registry: 256 KiB/s, so the 4 MiB layer takes about 16 s.
    $script:Proxy = [MobyDistribution.TestBed.FaultProxy]::Start($TestBed.Anonymous)
    $Proxy.BandwidthLimit = 256KB
    $script:Layer = $Large.Layers[0]
}

AfterAll {
    $Proxy.Dispose()
    Remove-MobyTempDirectory
    $TestBed.Dispose()
    $Large.Dispose()
}

Describe 'Stopping a transfer' {
    It 'Save-ImageBlob stops at once and leaves neither the file nor a partial one' {
        $dir = New-MobyTempDirectory
        $target = Join-Path $dir 'layer.bin'
        $ps = [PowerShell]::Create()
        $null = $ps.AddScript({
            param($Module, $Repository, $Digest, $Path)
            Import-Module $Module
            $ProgressPreference = 'SilentlyContinue'
            Save-ImageBlob -Repository $Repository -Digest $Digest -Path $Path
        }).AddArgument((Get-MobyModulePath)).AddArgument("$($Proxy.HostPort)/cancel/big").AddArgument($Layer.Digest).AddArgument($target)
        $async = $ps.BeginInvoke()
        try {
            # Wait until bytes are being written to the temporary file.
            $deadline = [DateTime]::UtcNow.AddSeconds(20)
            while (-not (Get-ChildItem $dir -Force -Filter '*.partial' | Where-Object Length -gt 0) -and [DateTime]::UtcNow -lt $deadline) {
                Start-Sleep -Milliseconds 50
            }
            Get-ChildItem $dir -Force -Filter '*.partial' | Should -Not -BeNullOrEmpty
            $ps.Stop()
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
        } finally {
            $ps.Dispose()
        }
        Get-ChildItem $dir -Force | Should -BeNullOrEmpty
        # The download did not run to its end behind the scenes.
        $blobGets = $Proxy.Log | Where-Object { $_.Method -eq 'GET' -and $_.Path -like '*/blobs/*' }
        ($blobGets | Measure-Object ResponseBytes -Sum).Sum | Should -BeLessThan $Layer.Size
    }

    It 'Copy-RegistryImage stops at once and pushes no manifest' {
        Connect-MobyTestRegistry $TestBed.Basic | Out-Null
        $ps = [PowerShell]::Create()
        $null = $ps.AddScript({
            param($Module, $Source, $Destination, $User, $Password)
            Import-Module $Module
            $ProgressPreference = 'SilentlyContinue'
            Connect-Registry -Registry ($Destination -replace '/.*$', '') -Credential ([pscredential]::new($User, (ConvertTo-SecureString $Password -AsPlainText -Force))) | Out-Null
            Copy-RegistryImage -Source $Source -Destination $Destination
        }).AddArgument((Get-MobyModulePath)).AddArgument("$($Proxy.HostPort)/cancel/big:v1").AddArgument("$($TestBed.Basic.HostPort)/cancel/copy:v1").AddArgument($TestBed.Basic.Username).AddArgument($TestBed.Basic.Password)
        $Proxy.ClearLog()
        $layerGet = { $Proxy.Log | Where-Object { $_.Method -eq 'GET' -and $_.Path -like "*/blobs/$($Layer.Digest)" } }
        $async = $ps.BeginInvoke()
        try {
            # Wait until the layer's bytes are flowing through the slow proxy.
            $deadline = [DateTime]::UtcNow.AddSeconds(20)
            while (-not (& $layerGet | Where-Object ResponseBytes -gt 0) -and [DateTime]::UtcNow -lt $deadline) {
                Start-Sleep -Milliseconds 50
            }
            # The copy is under way: layer bytes have moved, the command is still running and has reported no error.
            & $layerGet | Where-Object ResponseBytes -gt 0 | Should -Not -BeNullOrEmpty
            $ps.InvocationStateInfo.State | Should -Be 'Running'
            # (Count, not the collection itself: enumerating an open PSDataCollection waits for it to be closed.)
            $ps.Streams.Error.Count | Should -Be 0
            $ps.Stop()
            # The stop ended it, not a failure of its own.
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
            $ps.InvocationStateInfo.Reason | Should -BeOfType ([System.Management.Automation.PipelineStoppedException])
            $ps.Streams.Error.Count | Should -Be 0
        } finally {
            $ps.Dispose()
        }
        # The layer did not finish behind the scenes.
        (& $layerGet | Measure-Object ResponseBytes -Sum).Sum | Should -BeLessThan $Layer.Size
        # No manifest at the destination, and the registry says so: only NotFound proves it, any other failure fails here.
        Get-ImageManifest "$($TestBed.Basic.HostPort)/cancel/copy:v1" -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err | Should -HaveCount 1
        $err[0].FullyQualifiedErrorId | Should -Be 'ManifestNotFound,MobyDistribution.PowerShell.Commands.GetImageManifestCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }
}
