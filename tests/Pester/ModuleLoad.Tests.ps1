#Requires -Version 7.0
# What Windows PowerShell 5.1 (.NET Framework, no binding redirects for powershell.exe) needs of the built module, checked
# from its files: every assembly a shipped DLL references is shipped at that version or above, or comes with Windows
# PowerShell itself; and the AssemblyResolve handler answers only for what the module ships, at or below its version.
# Nothing here needs a registry, or Windows.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:ModuleFolder = Split-Path (Get-MobyModulePath)
    $script:Resolver = [MobyDistribution.PowerShell.WindowsPowerShellAssemblyResolver]
    $script:ShouldAnswer = $Resolver.GetMethod('ShouldAnswer', [System.Reflection.BindingFlags] 'NonPublic, Static')

    # What a Windows PowerShell 5.1 process has without the module: .NET Framework 4.7.2+ (which has netstandard.dll) and PowerShell.
    $script:FromWindowsPowerShell = @('mscorlib', 'netstandard', 'System', 'System.Core', 'System.Management.Automation', 'System.Net.Http', 'System.Numerics', 'System.Xml')

    function Get-AssemblyIdentity([string] $Path) {
        $stream = [System.IO.File]::OpenRead($Path)
        try {
            $pe = [System.Reflection.PortableExecutable.PEReader]::new($stream)
            $md = [System.Reflection.Metadata.PEReaderExtensions]::GetMetadataReader($pe)
            $def = $md.GetAssemblyDefinition()
            $refs = foreach ($handle in $md.AssemblyReferences) {
                $r = $md.GetAssemblyReference($handle)
                [pscustomobject]@{ Name = $md.GetString($r.Name); Version = $r.Version }
            }
            [pscustomobject]@{ Name = $md.GetString($def.Name); Version = $def.Version; References = @($refs) }
        } finally { $stream.Dispose() }
    }

    function New-Name([string] $FullName) { [System.Reflection.AssemblyName]::new($FullName) }
}

Describe 'The module for Windows PowerShell 5.1' {
    It 'asks for .NET Framework 4.7.2' {
        (Import-PowerShellDataFile (Get-MobyModulePath)).DotNetFrameworkVersion | Should -Be '4.7.2'
    }

    It 'ships every assembly its DLLs reference, at the version referenced or above, or leaves it to Windows PowerShell' {
        $shipped = @{}
        $identities = foreach ($dll in Get-ChildItem $ModuleFolder -Filter '*.dll') { $id = Get-AssemblyIdentity $dll.FullName; $shipped[$id.Name] = $id.Version; $id }
        $identities.Name | Should -Contain 'MobyDistribution.Core'
        $missing = foreach ($id in $identities) {
            foreach ($ref in $id.References) {
                if ($ref.Name -in $FromWindowsPowerShell) { continue }
                if (-not $shipped.ContainsKey($ref.Name)) { "$($id.Name) needs $($ref.Name) $($ref.Version), which is not shipped" }
                elseif ($shipped[$ref.Name] -lt $ref.Version) { "$($id.Name) needs $($ref.Name) $($ref.Version); $($shipped[$ref.Name]) is shipped" }
            }
        }
        $missing | Should -BeNullOrEmpty
    }

    It 'reads the identities of the dependencies it ships, not of its own assemblies' {
        $bundled = $Resolver.GetMethod('ReadBundled', [System.Reflection.BindingFlags] 'NonPublic, Static').Invoke($null, @([string] $ModuleFolder))
        $bundled.Keys | Should -Contain 'System.Memory'
        $bundled.Keys | Should -Contain 'System.Text.Json'
        $bundled.Keys | Where-Object { $_ -like 'MobyDistribution.*' } | Should -BeNullOrEmpty
        $bundled['System.Memory'].Version | Should -Be (Get-AssemblyIdentity (Join-Path $ModuleFolder 'System.Memory.dll')).Version
    }
}

Describe 'The assembly resolver decides' {
    BeforeAll {
        $script:Memory = New-Name 'System.Memory, Version=4.0.2.0, Culture=neutral, PublicKeyToken=cc7b13ffcd2ddd51'
    }

    It 'to answer a request for <Request>: <Answer>' -ForEach @(
        @{ Request = 'System.Memory, Version=4.0.1.2, Culture=neutral, PublicKeyToken=cc7b13ffcd2ddd51'; Answer = $true }   # older: System.Text.Json's
        @{ Request = 'System.Memory, Version=4.0.2.0, Culture=neutral, PublicKeyToken=cc7b13ffcd2ddd51'; Answer = $true }   # the shipped one
        @{ Request = 'System.Memory'; Answer = $true }                                                                      # a partial name
        @{ Request = 'System.Memory, Version=4.0.5.0, Culture=neutral, PublicKeyToken=cc7b13ffcd2ddd51'; Answer = $false }  # newer: another module's
        @{ Request = 'System.Memory, Version=4.0.1.2, Culture=neutral, PublicKeyToken=0123456789abcdef'; Answer = $false }  # another publisher's
        @{ Request = 'System.Buffers, Version=4.0.2.0, Culture=neutral, PublicKeyToken=cc7b13ffcd2ddd51'; Answer = $false } # another name
    ) {
        $ShouldAnswer.Invoke($null, @((New-Name $Request), $Memory)) | Should -Be $Answer
    }

    It 'not to answer for an assembly it does not ship' {
        $ShouldAnswer.Invoke($null, @((New-Name 'Newtonsoft.Json, Version=13.0.0.0, Culture=neutral, PublicKeyToken=30ad4fe6b2a6aeed'), $null)) | Should -BeFalse
    }
}
