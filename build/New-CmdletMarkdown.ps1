<#
.SYNOPSIS
    Writes a first draft of a cmdlet's help page (platyPS markdown schema 2.0.0) from the built module.
.DESCRIPTION
    For a new cmdlet: the syntax, every parameter's metadata (type, sets, aliases, position, pipeline input, wildcards,
    and the default a new instance of the cmdlet has) come from the cmdlet itself; the synopsis, descriptions and
    examples from its XML doc comments (<para type="synopsis|description">, <example><code>). The draft is a start:
    write the description, examples, inputs, outputs and notes for a reader, then build; Help.Tests.ps1 checks
    that what the page says matches the cmdlet. Existing pages are left alone unless -Force is given.
.EXAMPLE
    dotnet pwsh ./build/New-CmdletMarkdown.ps1 -Name Export-DockerImage
#>
[CmdletBinding()]
param(
    # The cmdlets to draft; by default every exported cmdlet that has no page yet.
    [string[]] $Name,
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/MobyDistribution/MobyDistribution.psd1'),
    [string] $OutputFolder = (Join-Path $PSScriptRoot '../docs/cmdlets'),
    [switch] $Force
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$module = Import-Module $ModulePath -PassThru -Force
[xml] $docs = Get-Content (Join-Path $module.ModuleBase 'MobyDistribution.PowerShell.xml') -Raw
$common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters

function Get-DocMember([string] $Id) { $docs.doc.members.member | Where-Object name -EQ $Id | Select-Object -First 1 }

function Get-DocText($Node, [string] $Type) {
    if (-not $Node) { return '' }
    $para = $Node.SelectNodes(".//para[@type='$Type']") | Select-Object -First 1
    if (-not $para) { return '' }
    $text = ($para.InnerXml -replace '<c>(.*?)</c>', '`$1`' -replace '<[^>]+>', '' -replace '&lt;', '<' -replace '&gt;', '>' -replace '&amp;', '&')
    return (($text -split "`n" | ForEach-Object Trim | Where-Object { $_ }) -join ' ')
}

function Get-TypeName([type] $Type) {
    $element = if ($Type.IsArray) { $Type.GetElementType() } else { $Type }
    # Short names, as Get-Command -Syntax shows them; INPUTS and OUTPUTS give the full ones.
    return $element.Name + $(if ($Type.IsArray) { '[]' } else { '' })
}

$names = if ($Name) { $Name } else {
    $module.ExportedCmdlets.Keys | Where-Object { -not (Test-Path (Join-Path $OutputFolder "$_.md")) }
}
foreach ($cmdletName in $names) {
    $file = Join-Path $OutputFolder "$cmdletName.md"
    if ((Test-Path $file) -and -not $Force) { Write-Warning "$file exists; -Force replaces it."; continue }
    $command = Get-Command $cmdletName -Module $module.Name
    $type = $command.ImplementingType
    $typeDoc = Get-DocMember "T:$($type.FullName)"
    $instance = [Activator]::CreateInstance($type)
    $text = [System.Text.StringBuilder]::new()
    $null = $text.AppendLine('---').AppendLine('external help file: MobyDistribution.PowerShell.dll-Help.xml').AppendLine('Module Name: MobyDistribution')
    $null = $text.AppendLine("online version: https://github.com/MobyDistribution/MobyDistribution/blob/main/docs/cmdlets/$cmdletName.md").AppendLine('schema: 2.0.0').AppendLine('---').AppendLine()
    $null = $text.AppendLine("# $cmdletName").AppendLine().AppendLine('## SYNOPSIS').AppendLine((Get-DocText $typeDoc 'synopsis')).AppendLine().AppendLine('## SYNTAX').AppendLine()
    foreach ($set in $command.ParameterSets) {
        $title = if ($command.ParameterSets.Count -eq 1) { 'Default' } else { $set.Name }
        if ($set.IsDefault -and $command.ParameterSets.Count -gt 1) { $title += ' (Default)' }
        $null = $text.AppendLine("### $title").AppendLine('```').AppendLine("$cmdletName $set").AppendLine('```').AppendLine()
    }
    $null = $text.AppendLine('## DESCRIPTION').AppendLine((Get-DocText $typeDoc 'description')).AppendLine().AppendLine('## EXAMPLES').AppendLine()
    $n = 0
    foreach ($code in @($typeDoc.SelectNodes('example/code'))) {
        $n++
        $null = $text.AppendLine("### Example ${n}: TODO").AppendLine().AppendLine('```powershell').AppendLine($code.InnerText.Trim()).AppendLine('```').AppendLine().AppendLine('TODO: what it does.').AppendLine()
    }
    $null = $text.AppendLine('## PARAMETERS').AppendLine()
    $parameters = $command.Parameters.Values | Where-Object { $_.Name -notin $common -or $_.Name -in 'WhatIf', 'Confirm' } | Sort-Object Name
    foreach ($p in $parameters) {
        $description = switch ($p.Name) {
            'WhatIf' { 'Shows what would happen if the cmdlet runs. The cmdlet is not run.' }
            'Confirm' { 'Prompts you for confirmation before running the cmdlet.' }
            default { Get-DocText (Get-DocMember "P:$($type.FullName).$($p.Name)") 'description' }
        }
        $null = $text.AppendLine("### -$($p.Name)").AppendLine($description).AppendLine()
        $aliases = $p.Aliases | Where-Object { $_ }
        $wildcards = [bool] ($p.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
        $accepted = ($p.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] } | ForEach-Object ValidValues) -join ', '
        if (-not $accepted -and $p.ParameterType.IsEnum) { $accepted = [Enum]::GetNames($p.ParameterType) -join ', ' }
        $default = 'None'
        $property = $type.GetProperty($p.Name)
        if ($p.SwitchParameter) { $default = 'False' }
        elseif ($property) { $value = $property.GetValue($instance); if ($null -ne $value -and -not ($value -is [array])) { $default = "$value" } }
        # One block per distinct metadata: a parameter mandatory in one set and optional in another gets two.
        $groups = $p.ParameterSets.GetEnumerator() | Group-Object { "$($_.Value.IsMandatory)|$($_.Value.Position)|$($_.Value.ValueFromPipeline)|$($_.Value.ValueFromPipelineByPropertyName)" }
        foreach ($group in $groups) {
            $meta = $group.Group[0].Value
            $sets = if ($group.Group.Key -contains '__AllParameterSets' -or ($groups.Count -eq 1 -and $p.ParameterSets.Count -eq $command.ParameterSets.Count)) { '(All)' } else { ($group.Group.Key | Sort-Object) -join ', ' }
            $pipeline = @(if ($meta.ValueFromPipeline) { 'ByValue' }; if ($meta.ValueFromPipelineByPropertyName) { 'ByPropertyName' })
            $null = $text.AppendLine('```yaml').AppendLine("Type: $(Get-TypeName $p.ParameterType)").AppendLine("Parameter Sets: $sets").AppendLine("Aliases: $($aliases -join ', ')")
            if ($accepted) { $null = $text.AppendLine("Accepted values: $accepted") }
            $null = $text.AppendLine().AppendLine("Required: $($meta.IsMandatory)").AppendLine("Position: $(if ($meta.Position -ge 0) { $meta.Position } else { 'Named' })")
            $null = $text.AppendLine("Default value: $default").AppendLine("Accept pipeline input: $(if ($pipeline) { "True ($($pipeline -join ', '))" } else { 'False' })")
            $null = $text.AppendLine("Accept wildcard characters: $wildcards").AppendLine('```').AppendLine()
        }
    }
    $null = $text.AppendLine('### CommonParameters')
    $null = $text.AppendLine('This cmdlet supports the common parameters: -Debug, -ErrorAction, -ErrorVariable, -InformationAction, -InformationVariable, -OutBuffer, -OutVariable, -PipelineVariable, -ProgressAction, -Verbose, -WarningAction, and -WarningVariable. For more information, see [about_CommonParameters](http://go.microsoft.com/fwlink/?LinkID=113216).').AppendLine()
    $null = $text.AppendLine('## INPUTS').AppendLine().AppendLine('### TODO').AppendLine().AppendLine('## OUTPUTS').AppendLine()
    foreach ($o in $command.OutputType) { $null = $text.AppendLine("### $($o.Name)").AppendLine().AppendLine('TODO').AppendLine() }
    $null = $text.AppendLine('## NOTES').AppendLine().AppendLine('## RELATED LINKS').AppendLine().AppendLine('[about_MobyDistribution](../../en-US/about_MobyDistribution.help.txt)')
    Set-Content -Path $file -Value $text.ToString().TrimEnd() -Encoding utf8
    Write-Host "Drafted $file"
}
