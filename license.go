// Package initbox holds what belongs to the project as a whole rather than
// to one package: its licence text, shown by `initbox -l`.
package initbox

import _ "embed"

// License is the text of the LICENSE file.
//
//go:embed LICENSE
var License string
