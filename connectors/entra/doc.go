// Package entra is a resync connector for Microsoft Entra ID.
package entra
