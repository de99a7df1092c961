// Vite's module declarations for the app's sources: `?worker&url` imports and CSS.
/// <reference types="vite/client" />
