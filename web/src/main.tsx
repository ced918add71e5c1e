import { render } from 'preact';
import { App } from './app';
import { startChat } from './chat/socket';
import './styles.css';

const root = document.getElementById('app');
if (root) render(<App />, root);
startChat();
